//! The Japanese analysers on administrative vocabulary, with the dictionary setup built.

mod common;

use shirabe::text::analysis::prepare;

fn ja(text: &str) -> Vec<String> {
    common::analyzers().ja_tokens(&prepare(text))
}

fn bigram(text: &str) -> Vec<String> {
    common::analyzers().bigram_tokens(&prepare(text))
}

#[test]
fn juminhyo_no_utsushi_splits_into_content_words() {
    assert_eq!(ja("住民票の写し"), ["住民", "票", "写し"]);
}

#[test]
fn decompose_mode_splits_long_compounds() {
    let tokens = ja("交付手数料");
    assert!(tokens.len() >= 2, "{tokens:?}");
    assert_eq!(tokens.concat(), "交付手数料");
    assert!(tokens.contains(&"交付".to_string()), "{tokens:?}");
}

#[test]
fn katakana_compound_stays_whole_and_bigrams_recover_parts() {
    assert_eq!(ja("マイナンバーカード"), ["マイナンバーカード"]);
    let b = bigram("マイナンバーカード");
    assert!(b.contains(&"マイ".to_string()) && b.contains(&"カー".to_string()), "{b:?}");
}

#[test]
fn dates_keep_era_and_numbers() {
    let tokens = ja("令和6年4月1日");
    assert!(tokens.contains(&"令和".to_string()), "{tokens:?}");
    assert!(tokens.contains(&"6".to_string()), "{tokens:?}");
    // Full-width digits are folded to the same tokens.
    assert_eq!(ja("令和６年４月１日"), tokens);
}

#[test]
fn circled_kabu_and_half_width_katakana_are_folded() {
    assert_eq!(ja("㈱"), ja("(株)"));
    assert!(ja("㈱").contains(&"株".to_string()));
    assert_eq!(ja("ｶﾀｶﾅ"), ja("カタカナ"));
    assert_eq!(bigram("ﾏｲﾅﾝﾊﾞｰ"), bigram("マイナンバー"));
}

#[test]
fn particles_and_punctuation_are_dropped() {
    let tokens = ja("住民票の写しを、窓口で交付します。");
    for t in ["の", "を", "、", "で", "。", "ます"] {
        assert!(!tokens.contains(&t.to_string()), "{t} in {tokens:?}");
    }
}

#[test]
fn old_character_forms_match_new_ones() {
    assert_eq!(ja("國民健康保險"), ja("国民健康保険"));
}
