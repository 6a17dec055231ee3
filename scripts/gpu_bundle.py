#!/usr/bin/python3
"""The dependency bundle for a GPU machine that has PyTorch but none of cxrtrain's Debian packages
(scripts/gpu_check.sh). Runs on Debian 12 with its apt registry.

  gpu_bundle.py fetch DIR    resolve the packages (below) with their runtime closure, apt-get download them
                             into DIR, unpack a copy and check its closure, write DIR/PACKAGES.txt, print the size
  gpu_bundle.py check ROOT   every ELF file under ROOT (an unpacked bundle) needs only sonames ROOT provides or
                             the base system every Linux with PyTorch has (glibc, libstdc++, libgcc, zlib, ...)

What is bundled: the -dev packages the build needs (headers, CMake configs, the MPI compiler wrappers) and
the runtime closure of the libraries and programs it links or runs (Open MPI with PMIx, hwloc, libevent,
libfabric, UCX; HDF5 with libaec and libcurl's closure; spdlog + fmt; yaml-cpp; Boost's headers (Boost.Math);
Mustache; OpenCV core/imgproc with TBB, BLAS/LAPACK and the GLX/X11 client libraries libopencv_core links). For an alternative dependency the
first choice is taken (libblas3 for libblas.so.3). Never bundled: glibc, libstdc++, libgcc (the machine's
newer ones must be used) and the rest of the base system (EXCLUDE), the compiler toolchain's -dev packages,
hdf5-helpers (its h5cc hard-codes /usr), and plugins that are only dlopened (hwloc plugins, Mesa's GLX
vendor library). Uses readelf (binutils) for the closure check; otherwise the standard library only.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOTS = """
libopenmpi-dev openmpi-bin openmpi-common libopenmpi3
libhdf5-dev libhdf5-103-1
libspdlog-dev libspdlog1.10 libfmt-dev libfmt9
libyaml-cpp-dev libyaml-cpp0.7
libcli11-dev nlohmann-json3-dev zlib1g-dev
libopencv-core-dev libopencv-imgproc-dev libopencv-core406 libopencv-imgproc406
libboost1.74-dev libkainjow-mustache-dev
""".split()

# The base system (present wherever PyTorch runs), the toolchain, and what the build never needs.
EXCLUDE = set("""
libc6 libstdc++6 libgcc-s1 gcc-12-base libc-bin debconf cdebconf dpkg adduser passwd tar install-info perl-base
libcrypt1 libselinux1 libpcre2-8-0 zlib1g libzstd1 liblzma5 libbz2-1.0 libtinfo6 libaudit1 libaudit-common
libpam0g libpam-modules libpam-modules-bin libsemanage2 libsemanage-common libsepol2 libacl1 libcap-ng0
readline-common libreadline8 libudev1 libuuid1 libssl3 libexpat1 libffi8 libgmp10
openssh-client ssh-client
libc6-dev libc-dev libstdc++-12-dev libgcc-12-dev linux-libc-dev libcrypt-dev libnsl-dev libtirpc-dev
rpcsvc-proto libc-dev-bin gfortran-mod-15 libgfortran-dev
libglx-mesa0 libglx-vendor libgl1-mesa-dri libhwloc-plugins
libibverbs-dev libhwloc-dev libevent-dev libpmix-dev libjs-jquery libjs-jquery-ui libtbb-dev libjpeg-dev
libaec-dev libcurl4-openssl-dev libcurl-dev libssl-dev hdf5-helpers libhdf5-fortran-102 libhdf5-hl-fortran-100
libhdf5-cpp-103-1 libhdf5-hl-cpp-100 catch2
""".split())

# Sonames of the base system: allowed as DT_NEEDED without being in the bundle.
BASE_SONAMES = set("""
libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 ld-linux-x86-64.so.2 libresolv.so.2 libutil.so.1
libstdc++.so.6 libgcc_s.so.1 libz.so.1 libzstd.so.1 liblzma.so.5 libbz2.so.1.0 libcrypto.so.3 libssl.so.3
libudev.so.1 libselinux.so.1 libpcre2-8.so.0 libtinfo.so.6 libreadline.so.8 libexpat.so.1 libffi.so.8
libgmp.so.10 libuuid.so.1 libcrypt.so.1
""".split())
PREFERRED = ("libblas3", "liblapack3")


def depends(pkg):
    """The Depends/PreDepends of `pkg`, one chosen package per dependency group."""
    out = subprocess.run(["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
                          "--no-breaks", "--no-replaces", "--no-enhances", pkg],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    groups, group, i = [], [], 0
    while i < len(out):
        m = re.match(r"^  (\|?)(?:PreDepends|Depends): (.*)$", out[i])
        i += 1
        if not m:
            continue
        providers = []
        while i < len(out) and out[i].startswith("    "):
            providers.append(out[i].strip())
            i += 1
        group.append((m.group(2), providers))
        if not m.group(1):  # the last alternative of an OR group
            groups.append(group)
            group = []
    chosen = []
    for group in groups:
        for name, providers in group:
            if name.strip("<>") in EXCLUDE:
                break  # satisfied by the base system
            candidates = [name] if not name.startswith("<") else (
                [p for p in providers if p in PREFERRED] + [p for p in providers if p not in PREFERRED])
            candidates = [c for c in candidates if c not in EXCLUDE]
            if candidates:
                chosen.append(candidates[0])
                break
    return chosen


def resolve():
    seen, todo = set(), list(ROOTS)
    while todo:
        p = todo.pop()
        if p in seen or p in EXCLUDE:
            continue
        seen.add(p)
        todo.extend(depends(p))
    return sorted(seen)


def elf_dynamic(path):
    """(SONAME or None, DT_NEEDED sonames) of an ELF file, or None when it is not one."""
    with open(path, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return None
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    soname = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    return soname.group(1) if soname else None, re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def check(root):
    """Every DT_NEEDED of every ELF file under root is some bundled library's SONAME or a base soname."""
    provided, needs = set(), {}
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            dyn = elf_dynamic(p)
            if dyn is None:
                continue
            if dyn[0]:
                provided.add(dyn[0])
            if dyn[1]:
                needs[p] = dyn[1]
    missing = {}
    for p, needed in needs.items():
        for soname in needed:
            if soname not in provided and soname not in BASE_SONAMES:
                missing.setdefault(soname, []).append(os.path.relpath(p, root))
    for soname, users in sorted(missing.items()):
        print(f"missing: {soname} (needed by {len(users)} files, e.g. {users[0]})")
    print(f"closure: {len(needs)} ELF files, {len(provided)} libraries; "
          f"{'complete' if not missing else f'{len(missing)} sonames missing'}")
    return not missing


def dir_bytes(d):
    return sum(os.lstat(os.path.join(r, f)).st_size for r, _, fs in os.walk(d) for f in fs)


def fetch(dest):
    packages = resolve()
    os.makedirs(dest, exist_ok=True)
    for old in os.listdir(dest):
        if old.endswith(".deb"):
            os.remove(os.path.join(dest, old))
    # As root, apt warns that it downloads "unsandboxed" into a folder its _apt user cannot read: harmless.
    download = ["apt-get", "download", "-o", "APT::Sandbox::User=root"] + packages
    if subprocess.run(download, cwd=dest, stdout=subprocess.DEVNULL).returncode != 0:
        print("apt-get download failed; refreshing the package lists (apt-get update) and trying again")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(download, cwd=dest, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(dest, "PACKAGES.txt"), "w") as f:
        f.write("\n".join(packages) + "\n")
    debs = [os.path.join(dest, d) for d in sorted(os.listdir(dest)) if d.endswith(".deb")]
    if len(debs) != len(packages):
        sys.exit(f"error: {len(packages)} packages resolved but {len(debs)} .deb files downloaded")
    tmp = tempfile.mkdtemp(prefix="cxr_bundle_check_")
    try:
        for d in debs:
            subprocess.run(["dpkg-deb", "-x", d, tmp], check=True)
        ok = check(tmp)
        unpacked = dir_bytes(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = dir_bytes(dest)
    print(f"bundle: {len(debs)} Debian packages in {dest}: {size / 2**20:.1f} MiB ({unpacked / 2**20:.0f} MiB unpacked)")
    if size > 64 * 2**20:
        sys.exit("error: the bundle exceeds 64 MiB, the most the device tool carries")
    if not ok:
        sys.exit("error: the bundle's runtime closure is incomplete (see 'missing:' above)")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("fetch", "check"):
        sys.exit(__doc__)
    if sys.argv[1] == "fetch":
        fetch(sys.argv[2])
    else:
        sys.exit(0 if check(sys.argv[2]) else 1)
