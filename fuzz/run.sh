#!/usr/bin/env bash
# Fuzzes every target for SECONDS each (default 60).
#
# With a nightly toolchain, this is libFuzzer with coverage feedback (cargo-fuzz is installed
# from crates.io on first use),
# seeded from the OASIS vectors and the saved regressions; new crashes land in
# fuzz/artifacts/<target>/. Otherwise it runs the stable mutational harness in tests/fuzz.rs
# (no coverage feedback) for the same time per target; findings land in target/fuzz-findings/.
# Either way: copy a finding into fuzz/regressions/<target>/ once it is fixed, so every CI run
# replays it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-60}
targets=(ttlv_decode kmip_request xml_json admin_request backup_reader)
if [[ -n ${KEYWARD_FUZZ_TARGETS:-} ]]; then
    read -r -a targets <<<"$KEYWARD_FUZZ_TARGETS"
fi

if rustup run nightly rustc --version >/dev/null 2>&1 && ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked
fi

if cargo +nightly fuzz --version >/dev/null 2>&1; then
    corpus=$(mktemp -d)
    trap 'rm -rf "$corpus"' EXIT
    KEYWARD_FUZZ_CORPUS=$corpus cargo test --release --test fuzz -- --ignored export_seed_corpus
    for target in "${targets[@]}"; do
        mkdir -p "fuzz/corpus/$target"
        cp -n "$corpus/$target"/* "fuzz/corpus/$target/" 2>/dev/null || true
        cp -n fuzz/regressions/"$target"/* "fuzz/corpus/$target/" 2>/dev/null || true
        echo "=== libFuzzer: $target for ${seconds}s"
        (cd fuzz && cargo +nightly fuzz run "$target" "corpus/$target" -- \
            -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=1048576)
    done
else
    echo "no nightly cargo-fuzz here: running the stable harness for ${seconds}s per target"
    KEYWARD_FUZZ_SECONDS=$seconds cargo test --release --test fuzz -- \
        --ignored --nocapture fuzz_each_target_for_a_while
fi
