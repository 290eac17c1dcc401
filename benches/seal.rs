//! Sealing and unsealing one AES-256 key under the master key (AES-256-GCM-SIV).
//! `cargo bench --bench seal`.

use criterion::{Criterion, criterion_group, criterion_main};
use keyward::seal::MasterKey;

fn seal(c: &mut Criterion) {
    let master = match MasterKey::generate() {
        Ok(master) => master,
        Err(e) => panic!("master key: {e}"),
    };
    let aad = b"6f0cf07e-8b0f-4a8c-9f6b-1d2e3c4b5a69";
    let key = [0x5au8; 32];
    c.bench_function("seal/aes-256-key", |b| {
        b.iter(|| master.seal(aad, std::hint::black_box(&key)))
    });
    let sealed = match master.seal(aad, &key) {
        Ok(sealed) => sealed,
        Err(e) => panic!("seal: {e}"),
    };
    c.bench_function("unseal/aes-256-key", |b| {
        b.iter(|| master.unseal(aad, std::hint::black_box(&sealed)))
    });
}

criterion_group!(benches, seal);
criterion_main!(benches);
