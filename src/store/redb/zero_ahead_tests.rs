//! The hole map at its edges, and the backend against a plain model of the file's bytes.

use std::fs::{File, OpenOptions};
use std::path::Path;

use ::redb::StorageBackend;
use ::redb::backends::FileBackend;

use super::{AHEAD, Holes, ZeroAheadBackend};

fn holes(ranges: &[(u64, u64)]) -> Holes {
    let mut holes = Holes::default();
    for &(start, end) in ranges {
        holes.insert(start, end);
    }
    holes
}

fn ranges(holes: &Holes) -> Vec<(u64, u64)> {
    holes.within(0, u64::MAX)
}

#[test]
fn taking_a_range_splits_trims_or_removes_holes() {
    let mut h = holes(&[(0, 100), (200, 300)]);
    // Inside one hole: split.
    assert!(h.take(10, 20));
    assert_eq!(ranges(&h), vec![(0, 10), (20, 100), (200, 300)]);
    // Exactly one hole: removed.
    assert!(h.take(200, 300));
    assert_eq!(ranges(&h), vec![(0, 10), (20, 100)]);
    // Across two holes and the data between: both trimmed.
    assert!(h.take(5, 30));
    assert_eq!(ranges(&h), vec![(0, 5), (30, 100)]);
    // Touching a hole's edges without overlapping it: no hole taken.
    assert!(!h.take(5, 30));
    assert!(!h.take(100, 150));
    assert!(!h.take(40, 40));
    assert_eq!(ranges(&h), vec![(0, 5), (30, 100)]);
    // The last byte of a hole.
    assert!(h.take(99, 100));
    assert_eq!(ranges(&h), vec![(0, 5), (30, 99)]);
}

#[test]
fn within_clips_to_the_range_asked() {
    let h = holes(&[(0, 100), (200, 300), (400, 500)]);
    assert_eq!(h.within(50, 250), vec![(50, 100), (200, 250)]);
    assert_eq!(h.within(100, 200), Vec::<(u64, u64)>::new());
    assert_eq!(h.within(0, 1000), vec![(0, 100), (200, 300), (400, 500)]);
    assert_eq!(h.within(450, 450), Vec::<(u64, u64)>::new());
    assert_eq!(h.total(), 300);
}

#[test]
fn growing_adds_a_hole_and_shrinking_forgets_beyond_the_end() {
    let mut h = holes(&[(0, 100)]);
    h.insert(1000, 2000);
    h.insert(1500, 1500);
    assert_eq!(ranges(&h), vec![(0, 100), (1000, 2000)]);
    h.truncate(1200);
    assert_eq!(ranges(&h), vec![(0, 100), (1000, 1200)]);
    h.truncate(50);
    assert_eq!(ranges(&h), vec![(0, 50)]);
    h.truncate(0);
    assert_eq!(h.total(), 0);
}

/// The backend on `path` (created empty if missing), and a handle to ask the file system.
fn open(path: &Path) -> (File, ZeroAheadBackend) {
    if !path.exists() {
        File::create(path).unwrap();
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let probe = file.try_clone().unwrap();
    let holes = Holes::scan(&file).unwrap();
    let backend = ZeroAheadBackend::new(FileBackend::new(file).unwrap(), holes);
    (probe, backend)
}

/// Where the file system says the first hole at or after `at` begins (the file's length when
/// there is none).
fn next_hole(file: &File, at: u64) -> u64 {
    rustix::fs::seek(file, rustix::fs::SeekFrom::Hole(at)).unwrap()
}

#[test]
fn a_write_into_a_hole_allocates_the_blocks_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let (probe, backend) = open(&path);
    backend.set_len(8 << 20).unwrap();
    if next_hole(&probe, 0) != 0 {
        // This file system reports no holes (the whole file is data): nothing to fill.
        return;
    }
    let page = vec![7u8; 4096];
    backend.write(4096, &page).unwrap();
    // The page written and AHEAD bytes after it are data now; before it, still a hole.
    assert_eq!(next_hole(&probe, 0), 0);
    assert!(next_hole(&probe, 4096) >= 8192 + AHEAD);
    // A write into the filled range allocates nothing and fills nothing more.
    backend.write(8192, &page).unwrap();
    assert!(next_hole(&probe, 4096) < 8192 + 2 * AHEAD);
    // Reopened, the scan finds the same holes the file system reports.
    drop(backend);
    let (probe, backend) = open(&path);
    let scanned = backend.lock().holes.clone();
    assert_eq!(scanned.within(0, 4096), vec![(0, 4096)]);
    assert_eq!(scanned.within(4096, 8192 + AHEAD), Vec::<(u64, u64)>::new());
    assert_eq!(next_hole(&probe, 4096), scanned.within(4096, u64::MAX)[0].0);
}

/// A small deterministic generator (xorshift64*): the sequence is the same on every run.
struct Steps(u64);

impl Steps {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % below
    }
}

#[test]
fn the_file_reads_as_if_nothing_were_filled() {
    // Writes of whole and partial pages, growth and shrinking in random order; after every
    // step the file's bytes must equal a model that only applies redb's own writes. A fill
    // that covered a written byte, or a hole map that lost track of one, shows as a mismatch.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let (_probe, backend) = open(&path);
    let mut model: Vec<u8> = Vec::new();
    let mut steps = Steps(0x9e37_79b9_7f4a_7c15);
    for step in 0..400 {
        match steps.next(10) {
            0 => {
                let len = steps.next(6 << 20);
                backend.set_len(len).unwrap();
                model.resize(usize::try_from(len).unwrap(), 0);
            }
            _ if model.is_empty() => {
                backend.set_len(1 << 20).unwrap();
                model.resize(1 << 20, 0);
            }
            _ => {
                let len = model.len() as u64;
                let offset = steps.next(len);
                let size = (1 + steps.next(3 * 4096)).min(len - offset);
                let byte = u8::try_from(1 + steps.next(255)).unwrap();
                let data = vec![byte; usize::try_from(size).unwrap()];
                backend.write(offset, &data).unwrap();
                let at = usize::try_from(offset).unwrap();
                model[at..at + data.len()].copy_from_slice(&data);
            }
        }
        assert_eq!(backend.len().unwrap(), model.len() as u64, "step {step}");
        let mut read = vec![0u8; model.len()];
        backend.read(0, &mut read).unwrap();
        assert!(
            read == model,
            "step {step}: the file differs from its model"
        );
    }
}
