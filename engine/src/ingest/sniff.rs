//! What a file really is, from its bytes, and how its text is encoded.
//!
//! Shares hold `.pdf` files that are saved HTML error pages, and text files in Shift-JIS from
//! older office PCs; the extension alone cannot be trusted for either.

/// The format the content shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Pdf,
    Html,
    Xml,
    Text,
    Binary,
}

impl Kind {
    /// How an error message names the content.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Pdf => "a PDF",
            Kind::Html => "an HTML page",
            Kind::Xml => "XML",
            Kind::Text => "plain text",
            Kind::Binary => "binary data",
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Looks at the first few KiB of `bytes`.
pub(crate) fn sniff(bytes: &[u8]) -> Kind {
    // The PDF header may follow some junk; readers accept it within the first 1 KiB.
    if contains(&bytes[..bytes.len().min(1024)], b"%PDF-") {
        return Kind::Pdf;
    }
    const MAGIC: &[&[u8]] = &[
        b"PK\x03\x04",
        b"\x89PNG",
        b"\xFF\xD8\xFF",
        b"GIF8",
        b"\xD0\xCF\x11\xE0",
        b"\x1F\x8B",
        b"7z\xBC\xAF",
    ];
    if MAGIC.iter().any(|m| bytes.starts_with(m)) {
        return Kind::Binary;
    }
    let utf16 = bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF");
    let head = &bytes[..bytes.len().min(8192)];
    if !utf16 && head.contains(&0) {
        return Kind::Binary;
    }
    let text = if utf16 {
        decode_text(head).unwrap_or_default()
    } else {
        String::from_utf8_lossy(head).into_owned()
    };
    let lower = text.trim_start_matches('\u{FEFF}').trim_start().to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.contains("<html") {
        return Kind::Html;
    }
    if lower.starts_with("<?xml") || (lower.starts_with('<') && !lower.starts_with("<!--")) {
        return Kind::Xml;
    }
    Kind::Text
}

/// How Japanese a decoded text looks: kana and kanji count, half-width katakana (what EUC-JP
/// read as Shift-JIS turns into) and replacement characters count against.
fn japanese_score(s: &str) -> i64 {
    s.chars()
        .map(|c| match c as u32 {
            0x3040..=0x30FF => 2,
            0x4E00..=0x9FFF => 1,
            0xFF61..=0xFF9F => -2,
            0xFFFD => -10,
            _ => 0,
        })
        .sum()
}

/// Decodes text: UTF-8 (with or without BOM), UTF-16 with BOM, 7-bit ISO-2022-JP, else
/// Shift-JIS (CP932) or EUC-JP, whichever decodes cleanly and reads more like Japanese. `None`
/// when nothing fits.
pub(crate) fn decode_text(bytes: &[u8]) -> Option<String> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8(rest.to_vec()).ok();
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return encoding_rs::UTF_16LE
            .decode_without_bom_handling_and_without_replacement(rest)
            .map(|s| s.into_owned());
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return encoding_rs::UTF_16BE
            .decode_without_bom_handling_and_without_replacement(rest)
            .map(|s| s.into_owned());
    }
    // 7-bit ISO-2022-JP (JIS code, from old mail) is also valid UTF-8: its escape sequences
    // into JIS X 0208 or the kana set must be looked for first.
    if bytes.is_ascii() && [b"\x1b$B".as_slice(), b"\x1b$@", b"\x1b(I"].iter().any(|esc| bytes.windows(3).any(|w| w == *esc)) {
        if let Some(text) = encoding_rs::ISO_2022_JP.decode_without_bom_handling_and_without_replacement(bytes) {
            return Some(text.into_owned());
        }
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Some(s.to_string());
    }
    let sjis = encoding_rs::SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes);
    let euc = encoding_rs::EUC_JP.decode_without_bom_handling_and_without_replacement(bytes);
    match (sjis, euc) {
        (Some(a), Some(b)) => Some(if japanese_score(&b) > japanese_score(&a) { b } else { a }.into_owned()),
        (Some(a), None) => Some(a.into_owned()),
        (None, Some(b)) => Some(b.into_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Kind::Pdf);
        assert_eq!(sniff(b"\r\n%PDF-1.4"), Kind::Pdf);
        assert_eq!(sniff(b"<!DOCTYPE html><html>"), Kind::Html);
        assert_eq!(sniff(b"  <HTML><body>404 Not Found"), Kind::Html);
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><Law/>"), Kind::Xml);
        assert_eq!(sniff("\u{FEFF}<Law Era=\"Heisei\">".as_bytes()), Kind::Xml);
        assert_eq!(sniff("# 見出し\n本文".as_bytes()), Kind::Text);
        assert_eq!(sniff(b"PK\x03\x04rest"), Kind::Binary);
        assert_eq!(sniff(b"abc\x00def"), Kind::Binary);
    }

    #[test]
    fn decodes_japanese_encodings() {
        let text = "検査料の点数の取扱いについて（通知）";
        assert_eq!(decode_text(text.as_bytes()).as_deref(), Some(text));
        let bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        assert_eq!(decode_text(&bom).as_deref(), Some(text));
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        assert_eq!(decode_text(&sjis).as_deref(), Some(text));
        let (euc, _, _) = encoding_rs::EUC_JP.encode(text);
        assert_eq!(decode_text(&euc).as_deref(), Some(text));
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decode_text(&utf16).as_deref(), Some(text));
        assert_eq!(decode_text(b"\x81\x7F\xFF\xFF\xA0"), None);
        let (jis, _, _) = encoding_rs::ISO_2022_JP.encode(text);
        assert!(jis.is_ascii() && jis.starts_with(b"\x1b$B"), "7-bit JIS code");
        assert_eq!(decode_text(&jis).as_deref(), Some(text));
        // ASCII without escape sequences stays as it is.
        assert_eq!(decode_text(b"plain $B text").as_deref(), Some("plain $B text"));
    }
}
