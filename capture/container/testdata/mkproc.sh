#!/bin/sh
# Regenerates the hand-made /proc fixture trees proc-v1 (cgroup v1, cgroupfs
# driver: Docker, Kubernetes) and proc-v2 (cgroup v2, systemd driver: Docker,
# containerd CRI, CRI-O, Podman rootful and rootless). ns/net entries are
# symlinks whose text is what the kernel shows, "net:[INODE]". Container IDs
# are sha256 of a name, as the tests compute them. Run from testdata/.
set -e
id() { printf '%s' "$1" | sha256sum | cut -c1-64; }
# proc PID DIR PPID START NETNS CGROUP-CONTENT
proc() {
  d=$DIR/$1; mkdir -p $d/ns
  printf '%s (%s) S %s %s %s 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 %s 1000000 100 18446744073709551615\n' "$1" "$6" "$2" "$1" "$1" "$3" > $d/stat
  [ -n "$4" ] && ln -sfn "net:[$4]" $d/ns/net
  printf '%b' "$5" > $d/cgroup
}
v1() { # cgroup v1 content for path $1
  out=""; n=12
  for c in "name=systemd" pids blkio freezer devices "memory" "cpuset" "cpu,cpuacct" net_cls,net_prio perf_event hugetlb rdma; do
    out="$out$n:$c:$1\n"; n=$((n-1)); done
  printf '%s0::/\n' "$out"
}
HOST=4026531840

DIR=proc-v1; rm -rf $DIR; mkdir -p $DIR
printf 'cpu  1 2 3 4\nbtime 1700000000\nprocesses 4242\n' > $DIR/stat
DA=$(id docker-a); DH=$(id docker-host); K=$(id k8s-cgroupfs); KP=$(id k8s-pause)
proc 1 0 1 $HOST "$(v1 /)\n" systemd
proc 90 1 500 $HOST "$(v1 /system.slice/containerd.service)\n" "containerd-shim"
proc 100 90 1000 4026532200 "$(v1 /docker/$DA)\n" "sleep"
proc 101 100 1200 4026532200 "$(v1 /docker/$DA)\n" "sh"
proc 200 90 2000 $HOST "$(v1 /docker/$DH)\n" "nc -l (x)"
proc 300 90 3000 4026532300 "$(v1 /kubepods/besteffort/pod3f1e2a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b/$KP)\n" pause
proc 301 90 3100 4026532300 "$(v1 /kubepods/besteffort/pod3f1e2a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b/$K)\n" app
# a process that exited while the scan ran: directory without files
mkdir -p $DIR/400; echo gone > $DIR/400/comm
# not processes
ln -s 1 $DIR/self; mkdir -p $DIR/sys; echo x > $DIR/sys/kernel; printf "x" > $DIR/uptime

DIR=proc-v2; rm -rf $DIR; mkdir -p $DIR
printf 'btime 1700000500\n' > $DIR/stat
D2=$(id docker-v2); C2=$(id cri-containerd); CP=$(id cri-pause); O2=$(id crio); P2=$(id podman); PR=$(id podman-rootless)
proc 1 0 1 $HOST "0::/init.scope\n" systemd
proc 10 1 100 4026532410 "0::/system.slice/docker-$D2.scope\n" sleep
proc 20 1 200 4026532420 "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice/cri-containerd-$CP.scope\n" pause
proc 21 1 210 4026532420 "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice/cri-containerd-$C2.scope\n" nginx
proc 30 1 300 4026532430 "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod11111111_2222_4333_8444_555555555555.slice/crio-$O2.scope\n" app
proc 31 1 290 $HOST "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod11111111_2222_4333_8444_555555555555.slice/crio-conmon-$O2.scope\n" conmon
proc 40 41 400 4026532440 "0::/machine.slice/libpod-$P2.scope/container\n" httpd
proc 41 1 390 $HOST "0::/machine.slice/libpod-conmon-$P2.scope\n" conmon
proc 50 1 500 4026532450 "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-$PR.scope\n" sleep
proc 51 50 510 4026532450 "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-$PR.scope\n" sh
proc 60 1 600 $HOST "0::/system.slice/sshd.service\n" sshd
