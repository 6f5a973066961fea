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
#      produced it, how and when, with the TCP fingerprint of the client's SYN (Joy's
#      fingerprints.tcp format);
#      The browsers (Debian's chromium and firefox-esr, when installed) run headless with a
#      new, empty profile, once by name (SNI) and once by address (no SNI);
#   5. runs the HTTP clients once more against a plain-HTTP server on loopback
#      (python3 -m http.server) and records their User-Agent (--fingerprint http).
# Add a client: one `capture NAME "CLIENT" "VERSION" "TLS LIBRARY" COMMAND...` line below
# (the URL is $url, the port $port); for its User-Agent, one `capture_http` line.
# Needs: root or capture rights (dumpcap -i lo), openssl, tshark; the clients are optional.
# Re-running replaces the output file.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../sleuth_pkg/data/fingerprints.json}
work=$(mktemp -d "${TMPDIR:-/tmp}/sleuth-fpdb.XXXXXX")
server_pid=
http_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    [ -n "$http_pid" ] && kill "$http_pid" 2>/dev/null || true
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
    curllib=$lib
    capture curl curl "$(echo "$v" | awk '{print $2}')" "$lib" curl -sk --max-time 5 "$url"
fi
if command -v wget >/dev/null 2>&1; then
    v=$(wget --version | head -1 | awk '{print $3}')
    lib="GnuTLS $(dpkg-query -W -f '${Version}' libgnutls30 2>/dev/null || echo unknown)"
    wget --version | grep -q 'ssl/openssl' && lib=$ossl
    capture wget wget "$v" "$lib" wget -q -t 1 -T 5 --no-check-certificate -O /dev/null "$url"
fi
if command -v curl >/dev/null 2>&1; then
    capture curl-tls1_2 "curl --tls-max 1.2" "$(curl --version | head -1 | awk '{print $2}')" "$curllib" \
        curl -sk --max-time 5 --tls-max 1.2 "$url"
    capture curl-http1_1 "curl --http1.1" "$(curl --version | head -1 | awk '{print $2}')" "$curllib" \
        curl -sk --max-time 5 --http1.1 "$url"
fi
if command -v gnutls-cli >/dev/null 2>&1; then
    gv=$(gnutls-cli --version | head -1 | awk '{print $NF}')
    capture gnutls-cli "gnutls-cli" "$gv" "GnuTLS $gv" \
        sh -c "echo | gnutls-cli --insecure --port $port localhost"
    capture gnutls-cli-tls1_2 "gnutls-cli (TLS 1.2 only)" "$gv" "GnuTLS $gv" \
        sh -c "echo | gnutls-cli --insecure --priority NORMAL:-VERS-TLS1.3 --port $port localhost"
fi
capture openssl-s_client-tls1_3 "openssl s_client -tls1_3" "$(openssl version | awk '{print $2}')" "$ossl" \
    openssl s_client -tls1_3 -connect "127.0.0.1:$port" -servername localhost
capture openssl-s_client-aes256sha "openssl s_client -tls1_2 -cipher AES256-SHA" "$(openssl version | awk '{print $2}')" "$ossl" \
    openssl s_client -tls1_2 -cipher AES256-SHA -connect "127.0.0.1:$port" -servername localhost
capture openssl-s_client-ecdhe-gcm "openssl s_client -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256" "$(openssl version | awk '{print $2}')" "$ossl" \
    openssl s_client -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -connect "127.0.0.1:$port" -servername localhost
capture openssl-s_client-tls1_0 "openssl s_client -tls1 (SECLEVEL=0)" "$(openssl version | awk '{print $2}')" "$ossl" \
    openssl s_client -tls1 -cipher 'DEFAULT:@SECLEVEL=0' -connect "127.0.0.1:$port" -servername localhost
capture openssl-s_client-nosni "openssl s_client -noservername" "$(openssl version | awk '{print $2}')" "$ossl" \
    openssl s_client -noservername -connect "127.0.0.1:$port"
capture openssl-s_client "openssl s_client" "$(openssl version | awk '{print $2}')" "$ossl" \
    openssl s_client -connect "127.0.0.1:$port" -servername localhost
capture openssl-s_client-tls1_2 "openssl s_client -tls1_2" "$(openssl version | awk '{print $2}')" "$ossl" \
    openssl s_client -tls1_2 -connect "127.0.0.1:$port" -servername localhost
pyv=$(python3 -c 'import sys; print(sys.version.split()[0])')
pylib=$(python3 -c 'import ssl; print(ssl.OPENSSL_VERSION)')
capture python3-urllib "python3 urllib" "$pyv" "$pylib" python3 -c \
    "import ssl,urllib.request; urllib.request.urlopen('$url', context=ssl._create_unverified_context(), timeout=5).read()"
capture python3-ssl-tls1_2 "python3 ssl (TLSv1_2 max)" "$pyv" "$pylib" python3 -c \
    "import ssl,socket; c=ssl._create_unverified_context(); c.maximum_version=ssl.TLSVersion.TLSv1_2; s=c.wrap_socket(socket.create_connection(('localhost',$port),timeout=5),server_hostname='localhost'); s.close()"
capture python3-ssl-ciphers "python3 ssl (set_ciphers ECDHE+AESGCM)" "$pyv" "$pylib" python3 -c \
    "import ssl,socket; c=ssl._create_unverified_context(); c.set_ciphers('ECDHE+AESGCM'); s=c.wrap_socket(socket.create_connection(('localhost',$port),timeout=5),server_hostname='localhost'); s.close()"
if [ -x /usr/bin/python3 ] && [ "$(readlink -f /usr/bin/python3)" != "$(readlink -f "$(command -v python3)")" ]; then
    dpyv=$(/usr/bin/python3 -c 'import sys; print(sys.version.split()[0])')
    dpylib=$(/usr/bin/python3 -c 'import ssl; print(ssl.OPENSSL_VERSION)')
    capture debian-python3-urllib "python3 urllib (Debian)" "$dpyv" "$dpylib" /usr/bin/python3 -c \
        "import ssl,urllib.request; urllib.request.urlopen('$url', context=ssl._create_unverified_context(), timeout=5).read()"
fi
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

# --- Browsers ----------------------------------------------------------------
# Each browser fetches the page once with a new, empty profile, by name (SNI sent,
# as when browsing) and by address (https://127.0.0.1:PORT/: no SNI). Chromium
# permutes its extensions and puts random GREASE values in its hello on every
# connection; sleuth matches it on the canonical form and JA4, which do not change.
if command -v chromium >/dev/null 2>&1; then
    cv=$(chromium --version 2>/dev/null | awk '{print $2}')
    for target in name address; do
        mkdir "$work/chromium-$target"
        if [ $target = name ]; then u=$url n=chromium c=chromium; else
            u=https://127.0.0.1:$port/ n=chromium-ip c="chromium (by IP address, no SNI)"; fi
        # --headless --dump-dom prints the page and exits; the certificate is not checked
        capture "$n" "$c" "$cv" "BoringSSL (bundled)" \
            chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync \
            --ignore-certificate-errors --user-data-dir="$work/chromium-$target" --dump-dom "$u"
    done
fi
firefox=$(command -v firefox-esr || command -v firefox || true)
if [ -n "$firefox" ]; then
    fv=$("$firefox" --version 2>/dev/null | awk '{print $NF}')
    nss=$(strings "$(dirname "$(readlink -f "$firefox")")/libnss3.so" 2>/dev/null |
          sed -n 's/^Version: NSS \([0-9.]*\).*/\1/p' | head -1)
    for target in name address; do
        mkdir "$work/firefox-$target"
        if [ $target = name ]; then u=$url n=firefox c=firefox; else
            u=https://127.0.0.1:$port/ n=firefox-ip c="firefox (by IP address, no SNI)"; fi
        # --screenshot loads the page; it stops at the certificate warning, so the
        # capture's timeout ends it once the hellos are sent
        capture "$n" "$c" "$fv" "NSS ${nss:-(bundled)}" \
            timeout 12 "$firefox" --headless --no-remote --profile "$work/firefox-$target" \
            --screenshot "$work/firefox-$target.png" "$u"
    done
fi

# --- User-Agents over plain HTTP --------------------------------------------
hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir "$work/www" && echo ok >"$work/www/index.html"
(cd "$work/www" && exec python3 -m http.server --bind 127.0.0.1 "$hport" >/dev/null 2>&1) &
http_pid=$!
sleep 1
hmanifest=$work/http-manifest.tsv
: >"$hmanifest"
# capture_http NAME "CLIENT" "VERSION" COMMAND...
capture_http() {
    name=$1 client=$2 version=$3
    shift 3
    pcap=$work/http-$name.pcap
    dumpcap -q -P -i lo -f "tcp port $hport" -w "$pcap" -a duration:20 >/dev/null 2>&1 &
    cap_pid=$!
    n=0
    while [ ! -s "$pcap" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    sleep 0.3
    timeout 20 "$@" >/dev/null 2>&1 </dev/null || true
    sleep 0.5
    kill -INT "$cap_pid" 2>/dev/null || true
    wait "$cap_pid" 2>/dev/null || true
    command=$(printf '%s ' "$@" | sed -e "s/$hport/PORT/g" -e "s|$work/||g")
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$client" "$version" "$pcap" "$command" >>"$hmanifest"
}
hurl=http://127.0.0.1:$hport/
command -v curl >/dev/null 2>&1 &&
    capture_http curl curl "$(curl --version | head -1 | awk '{print $2}')" curl -s --max-time 5 "$hurl"
command -v wget >/dev/null 2>&1 &&
    capture_http wget wget "$(wget --version | head -1 | awk '{print $3}')" wget -q -t 1 -T 5 -O /dev/null "$hurl"
capture_http python3-urllib "python3 urllib" "$pyv" python3 -c \
    "import urllib.request; urllib.request.urlopen('$hurl', timeout=5).read()"
kill "$http_pid" 2>/dev/null || true

python3 "$here/fpdb_from_pcap.py" --port "$port" --manifest "$manifest" \
    --http-port "$hport" --http-manifest "$hmanifest" --output "$out"
echo "wrote $out"
