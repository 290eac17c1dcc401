//! Tallies of vector outcomes, per profile and KMIP version, and the one-line totals the
//! operator sees (`N passed, N failed, N skipped`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::player::Outcome;
use super::vector::VectorFile;

/// Counts for one group of files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail { .. } => self.failed += 1,
            Outcome::Skip { .. } => self.skipped += 1,
        }
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Outcomes grouped by (profile, version); files without an OASIS name go under ("other", "-").
#[derive(Debug, Clone, Default)]
pub struct Summary {
    groups: BTreeMap<(String, String), Counts>,
    total: Counts,
}

impl Summary {
    pub fn record(&mut self, file: &VectorFile, outcome: &Outcome) {
        let key = file
            .profile_and_version()
            .unwrap_or_else(|| ("other".into(), "-".into()));
        self.groups.entry(key).or_default().add(outcome);
        self.total.add(outcome);
    }

    pub fn total(&self) -> Counts {
        self.total
    }

    /// `(profile, version, counts)` in sorted order.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &str, Counts)> {
        self.groups
            .iter()
            .map(|((p, v), c)| (p.as_str(), v.as_str(), *c))
    }
}

impl fmt::Display for Summary {
    /// One line per profile and version, then the totals line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (profile, version, counts) in self.groups() {
            writeln!(f, "{profile} {version}: {counts}")?;
        }
        write!(f, "{}", self.total)
    }
}

/// Every `.xml` file under the given files and directories, sorted, each once.
pub fn collect_vector_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if path.is_dir() {
            for entry in std::fs::read_dir(path)? {
                walk(&entry?.path(), out)?;
            }
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
        {
            out.push(path.to_path_buf());
        }
        Ok(())
    }
    let mut files = Vec::new();
    for path in paths {
        if !path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} does not exist", path.display()),
            ));
        }
        walk(path, &mut files)?;
    }
    files.sort();
    files.dedup();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::parse_vector_text;

    #[test]
    fn groups_by_profile_and_version() {
        let text = "<KMIP><RequestMessage></RequestMessage></KMIP>";
        let sklc = parse_vector_text("SKLC-M-1-21.xml", text).unwrap();
        let bl = parse_vector_text("BL-M-3-21.xml", text).unwrap();
        let mut summary = Summary::default();
        summary.record(&sklc, &Outcome::Pass);
        summary.record(
            &sklc,
            &Outcome::Fail {
                exchange: 2,
                reason: "x".into(),
            },
        );
        summary.record(
            &bl,
            &Outcome::Skip {
                exchange: 1,
                reason: "y".into(),
            },
        );
        assert_eq!(
            summary.total(),
            Counts {
                passed: 1,
                failed: 1,
                skipped: 1
            }
        );
        assert_eq!(
            summary.to_string(),
            "BL 2.1: 0 passed, 0 failed, 1 skipped\nSKLC 2.1: 1 passed, 1 failed, 0 skipped\n1 passed, 1 failed, 1 skipped"
        );
    }

    #[test]
    fn collects_xml_files_recursively() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for name in ["a.xml", "sub/b.XML", "sub/c.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let files =
            collect_vector_files(&[dir.path().to_path_buf(), dir.path().join("a.xml")]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            vec![PathBuf::from("a.xml"), PathBuf::from("sub/b.XML")]
        );
        assert!(collect_vector_files(&[dir.path().join("missing")]).is_err());
    }
}
