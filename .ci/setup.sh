# Sourced by the scripts in .ci/: installs and starts what the round trip and
# the tests need on Debian, as root or through sudo, saying what and why.

step() { printf '\n==> %s\n' "$*"; }

# Root's commands, through sudo for anyone else.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "this needs root for: $*; run as root or install sudo" >&2
        return 1
    fi
}

APT_UPDATED=
# apt_install WHY PACKAGE...: installs the packages, without questions.
apt_install() {
    local why="$1"
    shift
    step "installing $* ($why)"
    if [ -z "$APT_UPDATED" ]; then
        as_root apt-get update
        APT_UPDATED=1
    fi
    # tshark's package asks whether non-root users may capture: no.
    echo "wireshark-common wireshark-common/install-setuid boolean false" \
        | as_root debconf-set-selections
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# need COMMAND PACKAGE WHY: installs PACKAGE when COMMAND is missing.
need() {
    command -v "$1" >/dev/null 2>&1 || apt_install "$3" "$2"
}

ensure_build_tools() {
    # rustc links with the C compiler, and ring (rustls's cryptography)
    # compiles C and assembly.
    need cc gcc "the linker rustc uses and ring's C code"
    [ -e /usr/include/stdio.h ] || apt_install "C headers for ring" libc6-dev
    # cargo fetches crates over HTTPS and checks crates.io's certificate
    # against the system's CA bundle, which a minimal Debian lacks.
    [ -e /etc/ssl/certs/ca-certificates.crt ] \
        || apt_install "CA certificates, for cargo to fetch crates over HTTPS" ca-certificates
}

ensure_rabbitmq() {
    need rabbitmq-server rabbitmq-server "the broker the client talks to"
    if ! as_root rabbitmqctl status >/dev/null 2>&1; then
        step "starting RabbitMQ"
        if [ -d /run/systemd/system ]; then
            as_root systemctl start rabbitmq-server
        else
            as_root rabbitmq-server -detached
        fi
    fi
    step "waiting for RabbitMQ on 127.0.0.1:5672 (up to 60 s)"
    local deadline=$((SECONDS + 60))
    # await_startup fails at once while the node is not registered yet.
    until as_root timeout 30 rabbitmqctl await_startup --timeout 30 >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "RabbitMQ did not start within 60 s:" >&2
            as_root rabbitmqctl status >&2 || true
            return 1
        fi
        sleep 2
    done
}
