//! Which objects to move: the UIDs listed in a file (one a line, as vCenter, PowerCLI or govc
//! list the key IDs in use), or every object the old server Locates for this certificate,
//! page by page with Maximum Items and Offset Items where the server supports them.

use std::collections::HashSet;
use std::path::Path;

use super::error::ImportError;
use super::source::SourceServer;

/// Largest UID file read (a million UIDs fit easily).
const MAX_UID_FILE_BYTES: u64 = 256 << 20;

/// UIDs from `path`: one a line, blank lines and `#` comments ignored, duplicates dropped.
/// A `UID/provider` line (vCenter's `keyId/providerId` form) keeps the part before the `/`
/// only when it is given with `--strip-provider`; UIDs may themselves contain `/`.
pub fn from_file(path: &Path, strip_provider: bool) -> Result<Vec<String>, ImportError> {
    let file_err = |message: String| ImportError::File {
        path: path.display().to_string(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| ImportError::read(path, e))?;
    if meta.len() > MAX_UID_FILE_BYTES {
        return Err(file_err("too large for a list of UIDs".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| ImportError::read(path, e))?;
    Ok(parse(&text, strip_provider))
}

fn parse(text: &str, strip_provider: bool) -> Vec<String> {
    let mut seen = HashSet::new();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match (strip_provider, line.rsplit_once('/')) {
            (true, Some((uid, _provider))) => uid.trim(),
            _ => line,
        })
        .filter(|uid| seen.insert(uid.to_string()))
        .map(str::to_string)
        .collect()
}

/// Every UID the source Locates for this client, in the server's order, each once.
pub fn locate_all(source: &mut SourceServer, page_size: usize) -> Result<Vec<String>, ImportError> {
    let mut all = Vec::new();
    let mut seen = HashSet::new();
    let mut offset = 0;
    loop {
        let page = source.locate_page(offset, page_size)?;
        if !source.supports_paging() || page.len() > page_size {
            // No paging (KMIP before 1.3), or the server ignored Maximum Items: one answer
            // holds everything.
            all.extend(page.into_iter().filter(|uid| seen.insert(uid.clone())));
            return Ok(all);
        }
        let full = page.len() == page_size;
        let before = all.len();
        offset += page.len();
        all.extend(page.into_iter().filter(|uid| seen.insert(uid.clone())));
        if !full {
            return Ok(all);
        }
        if all.len() == before {
            return Err(ImportError::PagingIgnored {
                server: source.addr().to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_file_keeps_order_and_drops_blanks_comments_and_repeats() {
        let text = "# keys in use\n1\n\n 2 \n1\n52a1b0c4-0000-4000-8000-000000000001/ibm-kms\n";
        assert_eq!(
            parse(text, false),
            vec!["1", "2", "52a1b0c4-0000-4000-8000-000000000001/ibm-kms"]
        );
        assert_eq!(
            parse(text, true),
            vec!["1", "2", "52a1b0c4-0000-4000-8000-000000000001"]
        );
    }
}
