//! Loading a vector file into (request, expected response) pairs.

use std::path::Path;

use super::ConformanceError;
use crate::kmip::names::fold_spaces;
use crate::kmip::xml::{XmlNode, parse_document};

/// One round trip of a vector conversation.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: XmlNode,
    /// `None` when the file ends with a request that has no recorded answer.
    pub expected: Option<XmlNode>,
}

/// A vector file, ready to play.
#[derive(Debug, Clone)]
pub struct VectorFile {
    /// File name without directories (e.g. `SKLC-M-1-21.xml`).
    pub name: String,
    pub exchanges: Vec<Exchange>,
}

impl VectorFile {
    /// Profile and KMIP version from the OASIS naming scheme `PROFILE-M|O-N-VV.xml`
    /// (e.g. `("SKLC", "2.1")`); `None` for other names.
    pub fn profile_and_version(&self) -> Option<(String, String)> {
        let stem = self.name.strip_suffix(".xml").unwrap_or(&self.name);
        let parts: Vec<&str> = stem.split('-').collect();
        let version = parts.last()?;
        // The profile is every part before the Mandatory/Optional marker: `CS-AC-M-OAEP-1-21`
        // belongs to CS-AC, `SKLC-M-1-21` to SKLC.
        let marker = parts
            .iter()
            .position(|p| *p == "M" || *p == "O")
            .unwrap_or(1);
        let profile = parts.get(..marker.max(1))?.join("-");
        let mut digits = version.chars();
        let (major, minor) = (digits.next()?, digits.next()?);
        (parts.len() >= 3 && major.is_ascii_digit() && minor.is_ascii_digit())
            .then(|| (profile, format!("{major}.{minor}")))
    }
}

/// Reads and parses a vector file.
pub fn load_vector_file(path: &Path) -> Result<VectorFile, ConformanceError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConformanceError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    parse_vector_text(&name, &text)
}

/// Parses vector text: alternating `RequestMessage` / `ResponseMessage` elements under a
/// `KMIP` (OASIS 1.4/2.1 files, test-case documents) or `KmipTestCase` (1.1 extracts) root.
pub fn parse_vector_text(name: &str, text: &str) -> Result<VectorFile, ConformanceError> {
    let layout = |message: String| ConformanceError::Layout {
        file: name.to_owned(),
        message,
    };
    let mut nodes = parse_document(text).map_err(|source| ConformanceError::Codec {
        file: name.to_owned(),
        source,
    })?;
    // The 1.1 files were extracted from HTML, where line wrapping left runs of spaces inside
    // text values; the protocol values have single spaces.
    if text.contains("<KmipTestCase") {
        for node in &mut nodes {
            fold_text_strings(node);
        }
    }
    let mut exchanges: Vec<Exchange> = Vec::new();
    for node in nodes {
        match node.tag.as_str() {
            "RequestMessage" => exchanges.push(Exchange {
                request: node,
                expected: None,
            }),
            "ResponseMessage" => match exchanges.last_mut() {
                Some(last) if last.expected.is_none() => last.expected = Some(node),
                _ => {
                    return Err(layout(
                        "a ResponseMessage does not follow a RequestMessage".into(),
                    ));
                }
            },
            other => return Err(layout(format!("unexpected element {other}"))),
        }
    }
    if exchanges.is_empty() {
        return Err(layout("no RequestMessage found".into()));
    }
    Ok(VectorFile {
        name: name.to_owned(),
        exchanges,
    })
}

fn fold_text_strings(node: &mut XmlNode) {
    node.walk_mut(&mut |n| {
        if n.item_type.as_deref() == Some("TextString")
            && let Some(v) = &mut n.value
        {
            *v = fold_spaces(v);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_requests_with_responses_and_folds_1_1_text() {
        let text = r#"<KmipTestCase>
          <RequestMessage><RequestHeader><BatchCount type="Integer" value="1"/></RequestHeader></RequestMessage>
          <ResponseMessage><ResponseHeader><BatchCount type="Integer" value="1"/></ResponseHeader></ResponseMessage>
          <RequestMessage><BatchItem><AttributeName type="TextString" value="Cryptographic   Usage Mask"/></BatchItem></RequestMessage>
        </KmipTestCase>"#;
        let file = parse_vector_text("SKLC-M-1-11.xml", text).unwrap();
        assert_eq!(file.exchanges.len(), 2);
        assert!(file.exchanges[0].expected.is_some());
        assert!(file.exchanges[1].expected.is_none());
        let name = &file.exchanges[1].request.children[0].children[0];
        assert_eq!(name.value.as_deref(), Some("Cryptographic Usage Mask"));
        assert_eq!(
            file.profile_and_version(),
            Some(("SKLC".into(), "1.1".into()))
        );
    }

    #[test]
    fn rejects_orphan_response() {
        let text = "<KMIP><ResponseMessage></ResponseMessage></KMIP>";
        assert!(matches!(
            parse_vector_text("x.xml", text),
            Err(ConformanceError::Layout { .. })
        ));
    }

    #[test]
    fn reads_test_case_documents_with_time_lines() {
        let text = "<KMIP>\n# TIME 0\n<RequestMessage></RequestMessage>\n<ResponseMessage></ResponseMessage>\n# TIME 1\n<RequestMessage></RequestMessage>\n</KMIP>";
        let file = parse_vector_text("case.xml", text).unwrap();
        assert_eq!(file.exchanges.len(), 2);
        assert_eq!(file.profile_and_version(), None);
    }
}
