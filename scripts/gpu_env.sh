# The dependency bundle (scripts/gpu_bundle.py) made usable on a machine without its Debian packages,
# relocated rather than installed: sourced by scripts/gpu_check.sh.
#
#   bundle_unpack DEBDIR DEST   dpkg-deb -x every .deb into DEST; absolute symlinks retargeted into DEST;
#                               DEST/shim holds a symlink, by SONAME, to every bundled library the machine
#                               lacks (`ldconfig -p`), so LD_LIBRARY_PATH=DEST/shim never shadows the system's
#                               own (newer) copies; DEST/bin gets mpicxx/mpicc/mpirun wrappers that set the
#                               relocation variables for their own process only
#   bundle_env DEST             exports the relocation variables (OPAL_*, PMIX_*) and the Open MPI settings
#                               every launch uses, and sets BUNDLE_CMAKE_ARGS and MPIRUN (the wrapper: runs
#                               get LD_LIBRARY_PATH=DEST/shim, the build never does)
#
# Open MPI (Debian's 4.1 with external PMIx) relocates through OPAL_PREFIX + OPAL_SYSCONFDIR and PMIx
# through its PMIX_* directory variables. The launch settings avoid what gVisor may lack: no cross-memory
# attach for the shared-memory transport (btl_vader_single_copy_mechanism=none), TCP/shared memory only
# (pml ob1, btl self,vader,tcp: no UCX or verbs probing), no CPU binding.

bundle_unpack() {
  local debs=$1 dest=$2
  rm -rf "$dest" && mkdir -p "$dest" || return 1
  local d
  for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$dest" || return 1; done
  # Absolute symlinks point at /usr/...: into the bundle when the target is there, else at the system's
  # library of the same soname (zlib's libz.so -> the machine's libz.so.1).
  local link target
  while IFS= read -r link; do
    target=$(readlink "$link")
    case "$target" in /*) ;; *) continue ;; esac
    if [[ -e "$dest$target" ]]; then
      ln -sfn "$dest$target" "$link"
    else
      local base so
      base=$(basename "$target")
      so=$(ldconfig -p 2> /dev/null | awk -v b="${base%%.so*}.so." 'index($1, b) == 1 {print $NF; exit}')
      [[ -n "$so" ]] && ln -sfn "$so" "$link"
    fi
  done < <(find "$dest" -type l)
  # The shim: bundled libraries (by SONAME) that the machine does not have.
  mkdir -p "$dest/shim"
  local have lib soname
  have=$(ldconfig -p 2> /dev/null | awk 'NR > 1 {print $1}' | sort -u)
  while IFS= read -r lib; do
    soname=$(readelf -d "$lib" 2> /dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [[ -z "$soname" ]] && continue
    grep -qxF "$soname" <<< "$have" && continue
    [[ -e "$dest/shim/$soname" ]] || ln -s "$lib" "$dest/shim/$soname"
  done < <(find "$dest/usr/lib" "$dest/lib" -name 'lib*.so*' -type f 2> /dev/null)
  # MPI compiler wrappers and launcher that find their relocated tree (for their own process only).
  mkdir -p "$dest/bin"
  cp "${BASH_SOURCE[0]}" "$dest/bin/gpu_env.sh"
  local tool
  for tool in mpicc mpicxx mpirun; do
    cat > "$dest/bin/$tool" << EOF
#!/usr/bin/env bash
source "$dest/bin/gpu_env.sh"
bundle_env "$dest"
export LD_LIBRARY_PATH="$dest/shim\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$dest/usr/bin/$tool.openmpi" "\$@"
EOF
    chmod +x "$dest/bin/$tool"
  done
}

bundle_env() {
  local dest=$1
  local pmix=$dest/usr/lib/x86_64-linux-gnu/pmix2
  export OPAL_PREFIX=$dest/usr OPAL_SYSCONFDIR=$dest/etc/openmpi
  export PMIX_PREFIX=$pmix PMIX_INSTALL_PREFIX=$pmix PMIX_DATAROOTDIR=$pmix/share PMIX_DATADIR=$pmix/share \
    PMIX_PKGDATADIR=$pmix/share/pmix PMIX_LIBDIR=$pmix/lib PMIX_PKGLIBDIR=$pmix/lib/pmix
  export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader,tcp \
    OMPI_MCA_osc=^ucx OMPI_MCA_mtl=^ofi OMPI_MCA_hwloc_base_binding_policy=none \
    OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_base_warn_component_unused=0
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  local lib=$dest/usr/lib/x86_64-linux-gnu
  BUNDLE_CMAKE_ARGS=(
    "-DMPI_C_COMPILER=$dest/bin/mpicc" "-DMPI_CXX_COMPILER=$dest/bin/mpicxx"
    "-DMPIEXEC_EXECUTABLE=$dest/bin/mpirun"
    "-DHDF5_C_INCLUDE_DIR=$dest/usr/include/hdf5/serial" "-DHDF5_C_LIBRARY_hdf5=$lib/hdf5/serial/libhdf5.so"
    "-DZLIB_ROOT=$dest/usr"
    # The bundle's headers first: PyTorch wheels carry their own (newer) fmt, which spdlog 1.10 must not see.
    "-DCXR_PRIORITY_INCLUDE_DIR=$dest/usr/include"
    "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$lib:$lib/openmpi/lib:$dest/shim"
    "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath-link,$lib:$lib/openmpi/lib:$dest/shim")
  MPIRUN=("$dest/bin/mpirun" --allow-run-as-root --oversubscribe --bind-to none)
}
