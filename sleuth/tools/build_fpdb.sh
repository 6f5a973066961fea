#!/bin/sh
# Build sleuth's TLS client fingerprint database from clients run on this machine.
#
# Usage: sh sleuth/tools/build_fpdb.sh [OUTPUT.json]   (default: sleuth/sleuth_pkg/data/fingerprints.json)
#
# What it does, all on 127.0.0.1 and within a few seconds per client:
#   1. makes a throw-away self-signed certificate (openssl req) in a temporary directory;
#   2. starts `openssl s_server -www` on a free loopback port;
#   3. for each client below that is installed: starts dumpcap on lo (filter: that port),
#      runs the client once against https://localhost:PORT/, stops dumpcap;
#   4. runs tools/fpdb_from_pcap.py on the captures: it finds each ClientHello, computes the
#      Joy fingerprint string, JA3 and JA4 (sleuth_pkg/tlsfp.py), checks the JA3 against
#      tshark's own tls.handshake.ja3/ja3_full fields (and fails if they differ), and writes
#      one database entry per distinct client fingerprint, saying which client and version
#      produced it, how and when.
# Needs: root or capture rights (dumpcap -i lo), openssl, tshark; the clients are optional.
# Re-running replaces the output file.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../sleuth_pkg/data/fingerprints.json}
work=$(mktemp -d "${TMPDIR:-/tmp}/sleuth-fpdb.XXXXXX")
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

for tool in openssl dumpcap tshark python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "build_fpdb: $tool is needed" >&2; exit 2; }
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
    -days 1 -subj "/CN=localhost" >/dev/null 2>&1
openssl s_server -accept "127.0.0.1:$port" -cert "$work/cert.pem" -key "$work/key.pem" \
    -www -quiet >/dev/null 2>&1 &
server_pid=$!
sleep 1

manifest=$work/manifest.tsv
: >"$manifest"

# capture NAME "CLIENT" "VERSION" "TLS LIBRARY" COMMAND...
capture() {
    name=$1 client=$2 version=$3 library=$4
    shift 4
    pcap=$work/$name.pcap
    dumpcap -q -P -i lo -f "tcp port $port" -w "$pcap" -a duration:20 >/dev/null 2>&1 &
    cap_pid=$!
    # wait until dumpcap has opened its file
    n=0
    while [ ! -s "$pcap" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    sleep 0.3
    timeout 20 "$@" >/dev/null 2>&1 </dev/null || true
    sleep 0.5
    kill -INT "$cap_pid" 2>/dev/null || true
    wait "$cap_pid" 2>/dev/null || true
    command=$(printf '%s ' "$@" | sed -e "s/$port/PORT/g" -e "s|$work/||g")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$client" "$version" "$library" "$pcap" "$command" >>"$manifest"
}

url=https://localhost:$port/
ossl=$(openssl version | awk '{print $1" "$2}')

if command -v curl >/dev/null 2>&1; then
    v=$(curl --version | head -1)
    lib=$(echo "$v" | grep -o 'OpenSSL/[0-9.a-z]*\|GnuTLS/[0-9.]*' | head -1 | tr / ' ')
    capture curl curl "$(echo "$v" | awk '{print $2}')" "$lib" curl -sk --max-time 5 "$url"
fi
if command -v wget >/dev/null 2>&1; then
    v=$(wget --version | head -1 | awk '{print $3}')
    lib="GnuTLS $(dpkg-query -W -f '${Version}' libgnutls30 2>/dev/null || echo unknown)"
    wget --version | grep -q 'ssl/openssl' && lib=$ossl
    capture wget wget "$v" "$lib" wget -q -t 1 -T 5 --no-check-certificate -O /dev/null "$url"
fi
capture openssl-s_client "openssl s_client" "$(openssl version | awk '{print $2}')" "$ossl" \
    openssl s_client -connect "127.0.0.1:$port" -servername localhost
capture openssl-s_client-tls1_2 "openssl s_client -tls1_2" "$(openssl version | awk '{print $2}')" "$ossl" \
    openssl s_client -tls1_2 -connect "127.0.0.1:$port" -servername localhost
pyv=$(python3 -c 'import sys; print(sys.version.split()[0])')
pylib=$(python3 -c 'import ssl; print(ssl.OPENSSL_VERSION)')
capture python3-urllib "python3 urllib" "$pyv" "$pylib" python3 -c \
    "import ssl,urllib.request; urllib.request.urlopen('$url', context=ssl._create_unverified_context(), timeout=5).read()"
if command -v node >/dev/null 2>&1; then
    nv=$(node --version)
    nlib="OpenSSL $(node -p 'process.versions.openssl')"
    capture node-https "node https" "$nv" "$nlib" node -e \
        "require('https').get({host:'localhost',port:$port,rejectUnauthorized:false},r=>{r.resume();r.on('end',()=>process.exit(0))}).on('error',()=>process.exit(0))"
fi
if command -v java >/dev/null 2>&1; then
    jv=$(java -version 2>&1 | head -1 | sed 's/.*"\(.*\)".*/\1/')
    cat >"$work/Hello.java" <<EOF
public class Hello {
    public static void main(String[] a) throws Exception {
        try (javax.net.ssl.SSLSocket s = (javax.net.ssl.SSLSocket)
                javax.net.ssl.SSLSocketFactory.getDefault().createSocket("localhost", $port)) {
            s.startHandshake();
        } catch (Exception e) { /* the self-signed certificate is refused: the hello was sent */ }
    }
}
EOF
    # Hello.java (written above) opens an SSLSocket to localhost:PORT and starts the handshake
    capture java-jsse "java (JSSE SSLSocket)" "$jv" "JSSE (OpenJDK $jv)" java "$work/Hello.java"
fi

python3 "$here/fpdb_from_pcap.py" --port "$port" --manifest "$manifest" --output "$out"
echo "wrote $out"
