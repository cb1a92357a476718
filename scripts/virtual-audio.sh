#!/usr/bin/env bash
# Virtual sound card for `make console` on a machine without one (a server, a container, CI):
# a private PulseAudio server, no system service involved, reached by PortAudio through ALSA's
# pulse plugin.
#
# Usage: scripts/virtual-audio.sh start|stop|status|server
#
#   start   start the server (Debian package `pulseaudio`) with two virtual devices and
#           print the line that points clients at it: export PULSE_SERVER=unix:...
#             speaker      a null sink, the default output: record what the agent says
#                          from its monitor, `parecord -d speaker.monitor agent.wav`
#             microphone   a null sink whose monitor is the default input: what is
#                          played into it is what the agent hears,
#                          `paplay -d microphone question.wav`
#           Safe to run again.
#   stop    stop that server, if it is running.
#   status  exit 0 if it is running and answers, else 1.
#   server  print its address (the value for PULSE_SERVER).
#
# Environment:
#   AUDIO_DIR  state directory (default: <repo>/.cache/virtual-audio): the socket, the pid
#              file and pulseaudio.log
#
# Clients find the server only through PULSE_SERVER: a desktop's own sound server and
# devices are neither used nor touched. To talk to the agent through it:
#
#   eval "$(scripts/virtual-audio.sh start)"; make console             # one terminal
#   export PULSE_SERVER="$(scripts/virtual-audio.sh server)"           # another one
#   parecord -d speaker.monitor agent.wav &                            # what the agent says
#   espeak-ng -w question.wav "What is the capital of France?"
#   paplay -d microphone question.wav                                  # what it hears

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$SCRIPT_DIR")"
AUDIO_DIR="${AUDIO_DIR:-$REPO_ROOT/.cache/virtual-audio}"
case "$AUDIO_DIR" in
    /*) ;;
    *) AUDIO_DIR="$PWD/$AUDIO_DIR" ;;
esac

PROG="virtual-audio.sh"
SOCKET="$AUDIO_DIR/native"
LOG="$AUDIO_DIR/pulseaudio.log"

die() { echo "$PROG: $*" >&2; exit 1; }
usage() { echo "usage: $PROG start|stop|status|server" >&2; exit 2; }

# Unix socket paths are limited to 107 bytes.
[ "${#SOCKET}" -lt 100 ] || die "AUDIO_DIR is too long for a socket path: $AUDIO_DIR"

# The server and its clients keep their state here, not in the caller's session.
export XDG_RUNTIME_DIR="$AUDIO_DIR" PULSE_RUNTIME_PATH="$AUDIO_DIR/run" HOME="$AUDIO_DIR"
export PULSE_SERVER="unix:$SOCKET"
unset PULSE_SINK PULSE_SOURCE

answers() { pactl info >/dev/null 2>&1; }

cmd_start() {
    command -v pulseaudio >/dev/null 2>&1 || die "pulseaudio not found: install the Debian package pulseaudio"
    command -v pactl >/dev/null 2>&1 || die "pactl not found: install the Debian package pulseaudio-utils"
    mkdir -p "$AUDIO_DIR" "$PULSE_RUNTIME_PATH"
    chmod 700 "$AUDIO_DIR" "$PULSE_RUNTIME_PATH"
    if ! answers; then
        rm -f "$SOCKET"
        # -n: none of the system's default.pa (no hardware detection, no idle suspend).
        # A null sink's monitor sends nothing at all, not even silence, while nothing plays
        # into it: a listener waiting for the end of a sentence would wait forever. The
        # silence source looped into `microphone` keeps it sending, as a microphone does.
        # Running as root draws a warning, not a refusal: --system is for a shared server.
        pulseaudio --daemonize=yes --system=false --exit-idle-time=-1 --use-pid-file=yes \
            -n --log-target="file:$LOG" \
            -L "module-native-protocol-unix socket=$SOCKET auth-anonymous=1" \
            -L "module-null-sink sink_name=speaker sink_properties=device.description=Virtual-speaker" \
            -L "module-null-sink sink_name=microphone sink_properties=device.description=Virtual-microphone" \
            -L "module-null-source source_name=silence" \
            -L "module-loopback source=silence sink=microphone latency_msec=20" \
            || die "pulseaudio did not start (log: $LOG): $(tail -n 1 "$LOG" 2>/dev/null)"
        local i=0
        until answers; do
            i=$((i + 1))
            [ "$i" -lt 100 ] || die "pulseaudio does not answer on $SOCKET (log: $LOG)"
            sleep 0.1
        done
    fi
    pactl set-default-sink speaker
    pactl set-default-source microphone.monitor
    echo "export PULSE_SERVER=$PULSE_SERVER"
}

cmd_stop() {
    answers || return 0
    pulseaudio --kill 2>/dev/null || true
    local i=0
    while answers; do
        i=$((i + 1))
        [ "$i" -lt 100 ] || die "pulseaudio on $SOCKET did not stop"
        sleep 0.1
    done
}

[ $# -eq 1 ] || usage
case "$1" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) answers ;;
    server) echo "$PULSE_SERVER" ;;
    *) usage ;;
esac
