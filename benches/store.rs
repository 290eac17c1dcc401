//! One durable redb commit holding 1 and 64 object writes, in a temporary directory: what
//! group commit saves. `cargo bench --bench store`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use keyward::store::redb::RedbStore;
use keyward::store::{IndexTerm, Store, StoredObject};

fn object(n: u64) -> StoredObject {
    StoredObject {
        uid: format!("{n:08x}-0000-4000-8000-000000000000"),
        owner: "bench".into(),
        version: 1,
        metadata: vec![0x42; 200],
        sealed_material: Some(vec![0x17; 60]),
        index_terms: vec![IndexTerm(format!("name:bench-{n}").into_bytes())],
    }
}

fn commit(c: &mut Criterion) {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("temp dir: {e}"),
    };
    let store = match RedbStore::open(&dir.path().join("bench.redb")) {
        Ok(store) => store,
        Err(e) => panic!("open store: {e}"),
    };
    let mut next = 0u64;
    let mut group = c.benchmark_group("redb-commit");
    group.sample_size(20);
    for puts in [1u64, 64] {
        group.bench_with_input(BenchmarkId::new("puts", puts), &puts, |b, &puts| {
            b.iter(|| {
                let mut txn = store.write().map_err(|e| e.to_string())?;
                for _ in 0..puts {
                    next += 1;
                    txn.put(&object(next)).map_err(|e| e.to_string())?;
                }
                txn.commit().map_err(|e| e.to_string())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, commit);
criterion_main!(benches);
