#!/bin/bash
# Single-node REAL Kubernetes (v1.20.2) on a Debian bookworm "node"-kind machine, as root, using only
# Debian's packages (nothing else is reachable from this kind of machine).
#
#   etcd 3.4.23 (Debian etcd-server) + kube-apiserver/controller-manager/scheduler/kubelet/kubectl v1.20.2
#   built from Debian's own `kubernetes` source package with Debian's Go 1.19 + a second containerd 1.6.20
#   (Debian, CRI enabled, own socket/root/state under $K) + CNI bridge "cni-k8s" 10.88.0.0/16 (Debian
#   containernetworking-plugins) + locally built busybox / pause images (Debian busybox-static).
#
# Warden's copy (from the shared reference recipe): used by .ci/run and by test/k8s/*.test.ts.
#
# usage:  scripts/k8s-test-cluster.sh VERB...   (verbs run in order, e.g. `install build images config`)
#   verbs: all | install | build | images | config | up | test | down | built
#   all = install build images config up test   (leaves the cluster running; `down` stops it)
#   built = exit 0 when the cached binaries are all present (so CI builds only once per machine)
#
# Where things live:
#   CACHE (default /var/cache/warden-k8s): the built binaries (CACHE/bin) and the Debian source tree the
#     build ran in (CACHE/src). Outside any checkout, kept between runs: only the first run on a machine
#     pays for `build`. `build` is a no-op when CACHE/bin already holds all five binaries (FORCE_BUILD=1
#     rebuilds).
#   K (default /tmp/k8s): run state: certificates, kubeconfigs, images, logs, etcd/containerd data.
#     `rm -rf $K` for a clean start; `config` regenerates it.
# Measured on 2 cores, everything under nice 19 next to another heavy job: `all` took 12m21s with the apt
# packages already present (install 11 s, build 11m14s = codegen ~5 min + compile, up 21 s, test 35 s);
# a fresh machine adds ~1 min of apt; under heavier load the build took ~21 min. Once built: up ~25 s.
# Disk: Debian source 34 MB download / 280 MB unpacked; src tree after build 2.9 GB (1.7 GB of it go build
# cache, deletable); binaries 380 MB; run state ~70 MB.
# Local patches (all in do_build): reflect2 1.0.2 (Go>=1.18), kubelet does not rewrite host sysctls,
# faster deleted-pod cleanup (see comments). Pods must use imagePullPolicy IfNotPresent/Never: nothing
# can be pulled; load images with `docker save IMG | ctr -a $K/run/containerd/containerd.sock -n k8s.io images import -`.
# Client: KUBECONFIG=$K/kubeconfig/admin.conf  (https://127.0.0.1:6443, cluster-admin client cert).
set -euo pipefail
K=${K:-/tmp/k8s}
CACHE=${CACHE:-/var/cache/warden-k8s}
KVER=1.20.5+really1.20.2
BINS="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl"
export PATH=$CACHE/bin:$PATH
CTR="ctr -a $K/run/containerd/containerd.sock -n k8s.io"
KC="kubectl --kubeconfig $K/kubeconfig/admin.conf"
NODE_IP=${NODE_IP:-$(ip -4 -o route get 1.1.1.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p')}
NODE_NAME=${NODE_NAME:-$(hostname | tr 'A-Z' 'a-z')}
mkdir -p $CACHE/bin $K/logs $K/run/pids
ts() { echo "== $(date +%T) $*"; }

# ---------------------------------------------------------------------------------------------- install
do_install() {
  ts install
  apt-get update -qq
  # policy-rc.d on these images already stops apt from starting etcd/containerd services.
  # kubernetes-client (kubectl 1.20) is skipped: it clashes with google-cloud kubectl; we build kubectl.
  DEBIAN_FRONTEND=noninteractive nice -n 19 apt-get install -y -qq --no-install-recommends \
    golang-1.19-go etcd-server containerd runc containernetworking-plugins conntrack socat \
    iptables rsync jq busybox-static openssl curl iproute2 python3 patch >/dev/null
  /usr/lib/go-1.19/bin/go version; etcd --version | sed -n 1p; containerd --version
}

# ---------------------------------------------------------------------------------------------- build
do_built() { local b; for b in $BINS; do [ -x $CACHE/bin/$b ] || return 1; done; }
do_build() {
  ts build
  if [ "${FORCE_BUILD:-0}" != 1 ] && do_built; then echo "binaries cached in $CACHE/bin; skipping build"; return 0; fi
  mkdir -p $CACHE/src/apt/lists/partial $CACHE/src/apt/cache/archives/partial && cd $CACHE/src
  # private apt config for the deb-src entry (the system's own Debian source, as deb-src), so the system's sources stay untouched
  mkdir -p apt/parts
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > apt/parts/debian-src.sources
  APTO="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$CACHE/src/apt/parts -o Dir::State::Lists=$CACHE/src/apt/lists -o Dir::Cache=$CACHE/src/apt/cache"
  apt-get $APTO update -qq
  [ -f kubernetes_$KVER.orig.tar.gz ] || apt-get $APTO source --download-only kubernetes 2>&1 | grep -v unsandboxed || true
  ls golang-github-modern-go-reflect2-dev_*.deb >/dev/null 2>&1 || apt-get download golang-github-modern-go-reflect2-dev 2>&1 | grep -v unsandboxed || true
  if [ ! -d kubernetes-1.20.2 ]; then
    tar xzf kubernetes_$KVER.orig.tar.gz
    mkdir -p deb && tar xJf kubernetes_$KVER-*.debian.tar.xz -C deb
    cd kubernetes-1.20.2
    for p in $(cat ../deb/debian/patches/series); do patch -s -p1 < ../deb/debian/patches/$p; done
    # json-iterator + reflect2 v1.0.1 crash at run time on Go >= 1.18: swap in Debian's reflect2 1.0.2
    dpkg-deb -x ../golang-github-modern-go-reflect2-dev_*.deb ../reflect2
    rm -rf vendor/github.com/modern-go/reflect2
    cp -r ../reflect2/usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
    sed -i 's#github.com/modern-go/reflect2 v1.0.1#github.com/modern-go/reflect2 v1.0.2#g' go.mod vendor/modules.txt
    cd ..
  fi
  # kubelet would otherwise rewrite host sysctls on start (vm.overcommit_memory=1, kernel.panic=10,
  # kernel.panic_on_oops=1, ...); on a shared test box make it only warn (upstream has no flag for that)
  sed -i 's/^\tb := KernelTunableModify$/\tb := KernelTunableWarn/' kubernetes-1.20.2/pkg/kubelet/cm/container_manager_linux.go
  grep -q 'b := KernelTunableWarn' kubernetes-1.20.2/pkg/kubelet/cm/container_manager_linux.go
  # kubelet 1.20 only removes a deleted pod's API object after its sandbox is *removed*; when the container
  # is removed before the sandbox stops, sandbox removal waits for container GC (1 min) and the 10 s status
  # tick: `delete --grace-period=2` then took 9-52 s. With these two patches it takes ~7 s.
  f=kubernetes-1.20.2/pkg/kubelet/kubelet.go
  grep -q 'local patch: sandbox' $f || perl -0pi -e 's/(\t\t\t\tkl\.cleanUpContainersInPod\(e\.ID, containerID\)\n\t\t\t\}\n)/$1\t\t\t\/\/ local patch: sandbox deletion also on ContainerDied (else a deleted pod can wait ~1 min for container GC)\n\t\t\tkl.deletePodSandbox(e.ID)\n/' $f
  grep -q 'local patch: sandbox' $f
  f=kubernetes-1.20.2/pkg/kubelet/status/status_manager.go
  sed -i 's/^const syncPeriod = 10 \* time.Second$/const syncPeriod = 1 * time.Second \/\/ local patch: was 10s; a deleted pod waits for this tick/' $f
  grep -q '^const syncPeriod = 1 \* time.Second' $f
  printf 'KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56\nKUBE_GIT_TREE_STATE=clean\nKUBE_GIT_VERSION=v1.20.2\nKUBE_GIT_MAJOR=1\nKUBE_GIT_MINOR=20\n' > version.env
  cd kubernetes-1.20.2
  # upstream make: regenerates deepcopy/openapi files (zz_generated.openapi.go is not shipped), GOPATH mode
  ( export PATH=/usr/lib/go-1.19/bin:$PATH CGO_ENABLED=0 GOFLAGS=${GOFLAGS:--p=2} KUBE_GIT_VERSION_FILE=$CACHE/src/version.env
    time nice -n 19 make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kubectl" ) \
    > $K/logs/build.log 2>&1 || { tail -30 $K/logs/build.log; exit 1; }
  tail -3 $K/logs/build.log
  # copy to a temp name then rename, so a half-copied binary never counts as built
  for b in $BINS; do cp _output/bin/$b $CACHE/bin/.$b.tmp && mv $CACHE/bin/.$b.tmp $CACHE/bin/$b; done
  $CACHE/bin/kube-apiserver --version; du -sh $CACHE/bin $CACHE/src
}

# ---------------------------------------------------------------------------------------------- images
do_images() {
  ts images
  mkdir -p $K/images
  cat > $K/images/mkimage.py <<'EOF'
#!/usr/bin/env python3
# OCI image archive (for `ctr images import`) from Debian's static /bin/busybox; no registry, no docker.
# usage: mkimage.py OUT.tar IMAGE_REF JSON_ENTRYPOINT JSON_CMD
import hashlib, io, json, os, sys, tarfile, gzip
out, ref, entry, cmd = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
bb = open('/bin/busybox', 'rb').read()
applets = os.popen('/bin/busybox --list').read().split()
def ti(name, **kw):
    t = tarfile.TarInfo(name); t.mtime = 0; t.uid = t.gid = 0; t.uname = t.gname = 'root'
    for k, v in kw.items(): setattr(t, k, v)
    return t
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode='w', format=tarfile.PAX_FORMAT) as t:
    for d in ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'var', 'var/run']:
        t.addfile(ti(d, type=tarfile.DIRTYPE, mode=0o1777 if d == 'tmp' else 0o755))
    t.addfile(ti('bin/busybox', size=len(bb), mode=0o755), io.BytesIO(bb))
    for a in applets:
        if a != 'busybox': t.addfile(ti('bin/' + a, type=tarfile.SYMTYPE, linkname='busybox', mode=0o777))
    for n, data in [('etc/passwd', b'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n'),
                    ('etc/group', b'root:x:0:\nnogroup:x:65534:\n')]:
        t.addfile(ti(n, size=len(data), mode=0o644), io.BytesIO(data))
layer = raw.getvalue(); blobs = {}
def blob(data):
    d = hashlib.sha256(data).hexdigest(); blobs[d] = data; return 'sha256:' + d, len(data)
ld, ls = blob(gzip.compress(layer, mtime=0))
cfg = {'architecture': 'amd64', 'os': 'linux', 'created': '1970-01-01T00:00:00Z',
       'config': {'Env': ['PATH=/bin'], 'Entrypoint': entry or None, 'Cmd': cmd or None, 'WorkingDir': '/'},
       'rootfs': {'type': 'layers', 'diff_ids': ['sha256:' + hashlib.sha256(layer).hexdigest()]}}
cd_, cs = blob(json.dumps(cfg).encode())
man = {'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
       'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': cd_, 'size': cs},
       'layers': [{'mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip', 'digest': ld, 'size': ls}]}
md, ms = blob(json.dumps(man).encode())
idx = {'schemaVersion': 2, 'manifests': [{'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': md,
       'size': ms, 'platform': {'architecture': 'amd64', 'os': 'linux'},
       'annotations': {'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref.rsplit(':', 1)[-1]}}]}
with tarfile.open(out, 'w') as t:
    for n, data in [('oci-layout', b'{"imageLayoutVersion":"1.0.0"}'), ('index.json', json.dumps(idx).encode())] + \
                   [('blobs/sha256/' + d, v) for d, v in blobs.items()]:
        t.addfile(ti(n, size=len(data), mode=0o644), io.BytesIO(data))
print(out, ref, md)
EOF
  python3 $K/images/mkimage.py $K/images/busybox.tar docker.io/bars/busybox:latest '[]' '["sh"]'
  # sandbox ("pause") image: sleep forever; containerd kills sandboxes with SIGKILL
  python3 $K/images/mkimage.py $K/images/pause.tar k8s.local/pause:1 '["/bin/sleep"]' '["2147483647"]'
}

# ---------------------------------------------------------------------------------------------- config
do_config() {
  ts "config (NODE_IP=$NODE_IP NODE_NAME=$NODE_NAME)"
  mkdir -p $K/pki $K/kubeconfig $K/cni/net.d $K/etc
  cd $K/pki
  if [ ! -f ca.key ]; then
    openssl genrsa -out ca.key 2048 2>/dev/null
    openssl req -x509 -new -nodes -key ca.key -sha256 -days 3650 -subj "/CN=k8s-test-ca" -out ca.crt
    openssl genrsa -out sa.key 2048 2>/dev/null && openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    mk() { local n=$1 subj=$2 eku=$3 san=${4:-}
      openssl genrsa -out $n.key 2048 2>/dev/null
      openssl req -new -key $n.key -subj "$subj" -out $n.csr
      { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$eku"; if [ -n "$san" ]; then echo "subjectAltName=$san"; fi; } > $n.ext
      openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 -extfile $n.ext -out $n.crt 2>/dev/null
      rm -f $n.csr $n.ext; }
    mk apiserver "/CN=kube-apiserver" serverAuth "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:$NODE_NAME,IP:127.0.0.1,IP:10.96.0.1,IP:$NODE_IP"
    mk apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
    mk admin "/O=system:masters/CN=kubernetes-admin" clientAuth
    mk controller-manager "/CN=system:kube-controller-manager" clientAuth
    mk scheduler "/CN=system:kube-scheduler" clientAuth
    mk kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
    mk kubelet-server "/CN=$NODE_NAME" serverAuth "DNS:$NODE_NAME,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP"
  fi
  kc() { cat > $K/kubeconfig/$1.conf <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: $(base64 -w0 $K/pki/ca.crt)
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 $K/pki/$3.crt)
    client-key-data: $(base64 -w0 $K/pki/$3.key)
contexts:
- name: $2@local
  context: {cluster: local, user: $2, namespace: default}
current-context: $2@local
EOF
  chmod 600 $K/kubeconfig/$1.conf; }
  kc admin kubernetes-admin admin
  kc controller-manager system:kube-controller-manager controller-manager
  kc scheduler system:kube-scheduler scheduler
  kc kubelet system:node:$NODE_NAME kubelet-client
  cat > $K/etc/containerd.toml <<EOF
version = 2
root = "$K/run/containerd/root"
state = "$K/run/containerd/state"
[grpc]
  address = "$K/run/containerd/containerd.sock"
[ttrpc]
  address = "$K/run/containerd/containerd.sock.ttrpc"
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "k8s.local/pause:1"
    # this VM lacks CAP_SYS_RESOURCE: a negative oom_score_adj (sandbox -998) makes runc fail
    # ("can't get final child's PID from pipe: EOF"), so clamp to containerd's own score
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$K/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "$K/run/containerd/opt"
EOF
  cat > $K/cni/net.d/10-k8s.conflist <<EOF
{ "cniVersion": "0.4.0", "name": "k8s-pods",
  "plugins": [ { "type": "bridge", "bridge": "cni-k8s", "isGateway": true, "ipMasq": false, "hairpinMode": true,
                 "ipam": { "type": "host-local", "dataDir": "$K/run/cni-ipam",
                           "ranges": [[{ "subnet": "10.88.0.0/16" }]], "routes": [{ "dst": "0.0.0.0/0" }] } } ] }
EOF
  cat > $K/etc/kubelet.yaml <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
failSwapOn: false
runtimeRequestTimeout: 5m
tlsCertFile: $K/pki/kubelet-server.crt
tlsPrivateKeyFile: $K/pki/kubelet-server.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $K/pki/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [10.96.0.10]
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
EOF
}

# ---------------------------------------------------------------------------------------------- up
start() { local n=$1; shift
  if [ -f $K/run/pids/$n.pid ] && kill -0 $(cat $K/run/pids/$n.pid) 2>/dev/null; then echo "$n already running"; return; fi
  nohup nice -n 19 "$@" > $K/logs/$n.log 2>&1 < /dev/null & echo $! > $K/run/pids/$n.pid; echo "started $n pid $!"; }
waitfor() { local what=$1 secs=$2 t0=$(date +%s); shift 2
  until "$@" >/dev/null 2>&1; do
    [ $(( $(date +%s) - t0 )) -ge $secs ] && { echo "TIMEOUT waiting for $what (see $K/logs)"; return 1; }; sleep 0.5; done
  echo "$what ready after $(( $(date +%s) - t0 ))s"; }
do_up() {
  ts up; local P=$K/pki
  mkdir -p $K/run/containerd $K/run/etcd $K/run/kubelet
  start containerd /usr/bin/containerd --config $K/etc/containerd.toml
  waitfor containerd 60 $CTR version
  $CTR images import --all-platforms $K/images/pause.tar >/dev/null
  $CTR images import --all-platforms $K/images/busybox.tar >/dev/null
  # Warden's tests run TEST_IMAGE (warden-test/busybox) and the results keeper's default (busybox)
  for ref in docker.io/warden-test/busybox:latest docker.io/library/busybox:latest; do
    $CTR images tag --force docker.io/bars/busybox:latest $ref >/dev/null; done
  start etcd /usr/bin/etcd --name k8s --data-dir $K/run/etcd \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster k8s=http://127.0.0.1:2380 --initial-cluster-state new
  waitfor etcd 60 curl -sf http://127.0.0.1:2379/health
  start kube-apiserver $CACHE/bin/kube-apiserver --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=127.0.0.1 --secure-port=6443 --insecure-port=0 --advertise-address=$NODE_IP \
    --client-ca-file=$P/ca.crt --tls-cert-file=$P/apiserver.crt --tls-private-key-file=$P/apiserver.key \
    --kubelet-client-certificate=$P/apiserver-kubelet-client.crt --kubelet-client-key=$P/apiserver-kubelet-client.key \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --service-account-key-file=$P/sa.pub --service-account-signing-key-file=$P/sa.key \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local --service-cluster-ip-range=10.96.0.0/16 \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true --profiling=false
  waitfor kube-apiserver 180 curl -sf --cacert $P/ca.crt --cert $P/admin.crt --key $P/admin.key https://127.0.0.1:6443/readyz
  local common="--bind-address=127.0.0.1 --port=0 --leader-elect=false --profiling=false"
  start kube-controller-manager $CACHE/bin/kube-controller-manager $common \
    --kubeconfig=$K/kubeconfig/controller-manager.conf --authentication-kubeconfig=$K/kubeconfig/controller-manager.conf \
    --authorization-kubeconfig=$K/kubeconfig/controller-manager.conf --use-service-account-credentials=true \
    --service-account-private-key-file=$P/sa.key --root-ca-file=$P/ca.crt \
    --cluster-signing-cert-file=$P/ca.crt --cluster-signing-key-file=$P/ca.key
  start kube-scheduler $CACHE/bin/kube-scheduler $common --kubeconfig=$K/kubeconfig/scheduler.conf \
    --authentication-kubeconfig=$K/kubeconfig/scheduler.conf --authorization-kubeconfig=$K/kubeconfig/scheduler.conf
  start kubelet $CACHE/bin/kubelet --config=$K/etc/kubelet.yaml --kubeconfig=$K/kubeconfig/kubelet.conf \
    --root-dir=$K/run/kubelet --cert-dir=$K/run/kubelet/pki \
    --container-runtime=remote --container-runtime-endpoint=unix://$K/run/containerd/containerd.sock \
    --image-service-endpoint=unix://$K/run/containerd/containerd.sock \
    --node-ip=$NODE_IP --hostname-override=$NODE_NAME --pod-infra-container-image=k8s.local/pause:1 --v=1
  waitfor kube-controller-manager 120 curl -skf https://127.0.0.1:10257/healthz
  waitfor kube-scheduler 120 curl -skf https://127.0.0.1:10259/healthz
  waitfor default-serviceaccount 120 $KC -n default get serviceaccount default
  waitfor node-ready 180 sh -c "$KC get node $NODE_NAME -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  $KC get --raw /healthz; echo; $KC get nodes -o wide
  echo "export KUBECONFIG=$K/kubeconfig/admin.conf"
}

# ---------------------------------------------------------------------------------------------- test
do_test() {
  ts test
  ms() { date +%s%3N; }
  $KC delete pod sleeper --ignore-not-found --wait=true >/dev/null; $KC delete job deadline --ignore-not-found --wait=true >/dev/null
  local t0=$(ms)
  $KC apply -f - <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - {name: main, image: "bars/busybox:latest", imagePullPolicy: IfNotPresent, command: ["sleep", "300"]}
EOF
  $KC wait --for=condition=Ready pod/sleeper --timeout=120s
  local t1=$(ms); echo "POD create->Running: $(( t1 - t0 )) ms"
  $KC get pod sleeper -o wide
  echo "pid 1 in the pod: $($KC exec sleeper -- cat /proc/1/cmdline | tr '\0' ' ')"
  local t2=$(ms); $KC delete pod sleeper --grace-period=2 --wait=true; local t3=$(ms)
  echo "POD delete --grace-period=2 -> object gone: $(( t3 - t2 )) ms"
  local t4=$(ms)
  $KC apply -f - <<'EOF'
apiVersion: batch/v1
kind: Job
metadata: {name: deadline}
spec:
  activeDeadlineSeconds: 5
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: "bars/busybox:latest", imagePullPolicy: IfNotPresent, command: ["sleep", "300"]}
EOF
  $KC wait --for=condition=failed job/deadline --timeout=120s
  local t5=$(ms)
  echo "JOB create->Failed: $(( t5 - t4 )) ms, reason=$($KC get job deadline -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}')"
  $KC delete job deadline --wait=true >/dev/null
  echo "TEST OK"
}

# ---------------------------------------------------------------------------------------------- down
do_down() {
  ts down
  alive() { [ -f $K/run/pids/$1.pid ] && kill -0 $(cat $K/run/pids/$1.pid) 2>/dev/null; }
  stop() { local n=$1 p; [ -f $K/run/pids/$n.pid ] || return 0; p=$(cat $K/run/pids/$n.pid)
    if kill -0 $p 2>/dev/null; then kill $p; for i in $(seq 1 40); do kill -0 $p 2>/dev/null || break; sleep 0.25; done
      kill -0 $p 2>/dev/null && kill -9 $p; echo "stopped $n ($p)"; fi; rm -f $K/run/pids/$n.pid; }
  if alive kube-apiserver && alive kubelet; then  # let the kubelet tear pods down through CRI (CNI DEL, unmounts)
    timeout 60 $KC delete jobs --all --all-namespaces --wait=false >/dev/null 2>&1 || true
    timeout 60 $KC delete pods --all --all-namespaces --grace-period=1 >/dev/null 2>&1 || true
    for i in $(seq 1 60); do [ -z "$($CTR tasks ls -q 2>/dev/null)" ] && break; sleep 1; done
  fi
  stop kubelet
  if alive containerd; then
    for t in $($CTR tasks ls -q 2>/dev/null); do $CTR tasks kill -s SIGKILL $t >/dev/null 2>&1 || true; done; sleep 1
    for t in $($CTR tasks ls -q 2>/dev/null); do $CTR tasks delete -f $t >/dev/null 2>&1 || true; done
    for c in $($CTR containers ls -q 2>/dev/null); do $CTR containers delete $c >/dev/null 2>&1 || true; done
  fi
  stop kube-scheduler; stop kube-controller-manager; stop kube-apiserver; stop etcd; stop containerd
  for p in $(pgrep -f "containerd-shim-runc-v2 -namespace k8s.io -id .* -address $K/run/containerd/containerd.sock" || true); do
    kill -9 $p 2>/dev/null && echo "killed shim $p" || true; done
  { grep -o " $K/run/[^ ]*" /proc/mounts || true; } | sort -r | while read m; do umount -l $m 2>/dev/null || true; done
  for n in $(ls /var/run/netns 2>/dev/null | grep '^cni-' || true); do
    ip netns exec $n ip -4 -o addr 2>/dev/null | grep -q ' 10\.88\.' && ip netns delete $n || true; done
  if ip link show cni-k8s >/dev/null 2>&1; then ip link delete cni-k8s && echo "deleted bridge cni-k8s"; fi
  for h in /sys/fs/cgroup/*/kubepods; do [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
  # kubelet 1.20 hard-codes these paths outside --root-dir (no other kubelet runs on this box)
  rm -rf /var/log/pods/* /var/log/containers/* /var/lib/kubelet/device-plugins 2>/dev/null || true
  # state (etcd data, containerd root) stays in $K/run; `rm -rf $K/run` for a clean next start
}

[ $# -gt 0 ] || set -- all
for verb in "$@"; do case "$verb" in
  install|build|images|config|up|test|down|built) ;;
  all) ;;
  *) echo "usage: $0 VERB...  (all|install|build|images|config|up|test|down|built)"; exit 2 ;;
esac; done
for verb in "$@"; do
  case "$verb" in
    all) time { do_install; do_build; do_images; do_config; do_up; do_test; } ;;
    *) ( cd /; time do_$verb ) ;;
  esac
done
