//! TTLV decode and encode of the messages vCenter exchanges with a KMS (Create, Get, the Get
//! response carrying key material, the Add Attribute batch). `cargo bench --bench codec`.

use criterion::{Criterion, criterion_group, criterion_main};
use keyward::bench::messages;
use keyward::ttlv::{self, Limits};

fn codec(c: &mut Criterion) {
    let uid = "6f0cf07e-8b0f-4a8c-9f6b-1d2e3c4b5a69";
    let cases = [
        ("discover-versions", messages::discover_versions()),
        ("create", messages::create(None)),
        ("get", messages::get(uid)),
        ("get-attributes", messages::get_attribute(uid, "x-Vendor")),
        (
            "add-attribute-batch",
            messages::add_attributes(uid, &messages::VCENTER_TAGS),
        ),
    ];
    let limits = Limits::default();
    for (name, bytes) in &cases {
        c.bench_function(&format!("decode/{name}"), |b| {
            b.iter(|| ttlv::decode(std::hint::black_box(bytes), &limits))
        });
        let item = match ttlv::decode(bytes, &limits) {
            Ok(item) => item,
            Err(e) => panic!("{name} does not decode: {e}"),
        };
        c.bench_function(&format!("encode/{name}"), |b| {
            b.iter(|| ttlv::encode(std::hint::black_box(&item)))
        });
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
