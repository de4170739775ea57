#!/usr/bin/env bash
# Installs what the tests and benchmarks need, from Debian's packages, when
# it is missing: Erlang/OTP (erl, erlc, epmd and the ssl application),
# rebar3 and elixir (mix) for the release tests of erlang/distgate_epmd,
# wabt (wat2wasm), stunnel4, and chromium for the status page's browser
# test. Safe to run again: it installs nothing that is already there.
set -euo pipefail

need=()
command -v erl >/dev/null 2>&1 && command -v erlc >/dev/null 2>&1 && command -v epmd >/dev/null 2>&1 ||
	need+=(erlang-base erlang-crypto erlang-asn1 erlang-public-key erlang-ssl)
if command -v erl >/dev/null 2>&1 && ! erl -noshell -eval 'halt(case code:lib_dir(ssl) of {error,_} -> 1; _ -> 0 end).' >/dev/null 2>&1; then
	need+=(erlang-crypto erlang-asn1 erlang-public-key erlang-ssl)
fi
command -v rebar3 >/dev/null 2>&1 || need+=(rebar3)
command -v mix >/dev/null 2>&1 && command -v elixir >/dev/null 2>&1 || need+=(elixir)
command -v wat2wasm >/dev/null 2>&1 || need+=(wabt)
command -v stunnel4 >/dev/null 2>&1 || command -v stunnel >/dev/null 2>&1 || need+=(stunnel4)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v git >/dev/null 2>&1 || need+=(git)
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if ((${#need[@]} == 0)); then
	exit 0
fi

sudo=()
if [[ $(id -u) != 0 ]]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install: ${need[*]}" >&2; exit 1; }
	sudo=(sudo)
fi
echo "install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
