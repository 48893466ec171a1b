//! Japanese analysis: the two tokenisers the keyword index uses, and the text preparation that
//! runs before either of them.
//!
//! Text is prepared *before* it reaches tantivy ([`prepare`]: NFKC-style normalisation, 旧字体 →
//! 新字体 folding, lower case) rather than with tantivy character filters, because character
//! filters that change lengths (㈱ → (株)) break snippet offsets. Two analysers then run on the
//! prepared text:
//! - `ja`: lindera with IPADIC in Decompose mode (long compounds such as 交付手数料 split into
//!   交付 / 手数 / 料), minus particles, auxiliary verbs and symbols;
//! - `bigram`: overlapping character bigrams within runs of letters/digits (a run of one
//!   character is kept as a unigram). It recovers what the dictionary does not know: katakana
//!   compounds, new words, OCR noise.

use std::collections::HashSet;
use std::path::Path;

use lindera::dictionary::load_fs_dictionary;
use lindera::mode::{Mode, Penalty};
use lindera::segmenter::Segmenter;
use lindera_analysis::token_filter::japanese_stop_tags::JapaneseStopTagsTokenFilter;
use lindera_tantivy::tokenizer::LinderaTokenizer;
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};

use crate::error::{Error, Result};

/// Name of the lindera analyser in the tantivy tokenizer manager.
pub const JA: &str = "ja";
/// Name of the character-bigram analyser.
pub const BIGRAM: &str = "bigram";

/// IPADIC part-of-speech tags that carry no search meaning.
const STOP_TAGS: &[&str] = &[
    "助詞,格助詞,一般,*",
    "助詞,格助詞,引用,*",
    "助詞,格助詞,連語,*",
    "助詞,係助詞,*,*",
    "助詞,副助詞,*,*",
    "助詞,間投助詞,*,*",
    "助詞,並立助詞,*,*",
    "助詞,終助詞,*,*",
    "助詞,副助詞／並立助詞／終助詞,*,*",
    "助詞,連体化,*,*",
    "助詞,副詞化,*,*",
    "助詞,特殊,*,*",
    "助詞,接続助詞,*,*",
    "助動詞,*,*,*",
    "記号,一般,*,*",
    "記号,読点,*,*",
    "記号,句点,*,*",
    "記号,空白,*,*",
    "記号,括弧開,*,*",
    "記号,括弧閉,*,*",
    "フィラー,*,*,*",
];

/// Normalises text for analysis: [`crate::text::normalize::normalize`], 旧字体 folding and lower case.
/// Folding maps one character to one character, so offsets in prepared text match the stored text.
pub fn prepare(text: &str) -> String {
    let normalized = crate::text::normalize::normalize(text);
    crate::text::variants::to_shinjitai(&normalized).to_lowercase()
}

/// Builds the lindera dictionary from Debian's `mecab-ipadic` sources (EUC-JP CSV and
/// definition files, e.g. `/usr/share/mecab/dic/ipadic`) into `out`. The IPADIC schema is the
/// lindera default; only the name, encoding and flexible CSV reading differ.
pub fn build_dictionary(source: &Path, out: &Path) -> Result<()> {
    use lindera::dictionary::{DictionaryBuilder, Metadata, Schema};
    if !source.join("matrix.def").exists() {
        return Err(Error::Setup {
            what: "the mecab-ipadic dictionary sources",
            path: source.to_path_buf(),
            reason: "matrix.def not found (install the Debian package mecab-ipadic)".into(),
        });
    }
    let defaults = Metadata::default();
    let metadata = Metadata::new(
        "ipadic".into(),
        "EUC-JP".into(),
        defaults.default_word_cost,
        defaults.default_left_context_id,
        defaults.default_right_context_id,
        defaults.default_field_value.clone(),
        true,
        false,
        false,
        Schema::default(),
        defaults.user_dictionary_schema.clone(),
    );
    DictionaryBuilder::new(metadata).build_dictionary(source, out).map_err(|e| Error::Setup {
        what: "the lindera IPADIC dictionary",
        path: out.to_path_buf(),
        reason: format!("build failed: {e}"),
    })
}

/// The loaded analysers. Cheap to clone (the dictionary is shared).
#[derive(Clone)]
pub struct Analyzers {
    ja: TextAnalyzer,
    bigram: TextAnalyzer,
}

impl Analyzers {
    /// Loads the IPADIC dictionary built by setup from `dict_dir`.
    pub fn load(dict_dir: &Path) -> Result<Analyzers> {
        if !dict_dir.join("metadata.json").exists() {
            return Err(Error::Setup {
                what: "the lindera IPADIC dictionary",
                path: dict_dir.to_path_buf(),
                reason: "metadata.json not found".into(),
            });
        }
        let dictionary = load_fs_dictionary(dict_dir).map_err(|e| Error::Setup {
            what: "the lindera IPADIC dictionary",
            path: dict_dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let segmenter = Segmenter::new(Mode::Decompose(Penalty::default()), dictionary, None);
        let mut tokenizer = LinderaTokenizer::from_segmenter(segmenter);
        let tags: HashSet<String> = STOP_TAGS.iter().map(|s| s.to_string()).collect();
        tokenizer.append_token_filter(JapaneseStopTagsTokenFilter::new(tags).into());
        Ok(Analyzers { ja: TextAnalyzer::from(tokenizer), bigram: TextAnalyzer::from(CharBigramTokenizer) })
    }

    /// Registers both analysers with a tantivy index.
    pub fn register(&self, index: &tantivy::Index) {
        index.tokenizers().register(JA, self.ja.clone());
        index.tokenizers().register(BIGRAM, self.bigram.clone());
    }

    /// Tokens of the lindera analyser for already [`prepare`]d text.
    pub fn ja_tokens(&self, prepared: &str) -> Vec<String> {
        collect(&mut self.ja.clone(), prepared)
    }

    /// Tokens of the bigram analyser for already [`prepare`]d text.
    pub fn bigram_tokens(&self, prepared: &str) -> Vec<String> {
        collect(&mut self.bigram.clone(), prepared)
    }
}

fn collect(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        if token.text.chars().any(char::is_alphanumeric) {
            out.push(token.text.clone());
        }
    }
    out
}

/// Overlapping character bigrams inside runs of alphanumeric characters.
#[derive(Clone, Copy, Debug, Default)]
pub struct CharBigramTokenizer;

/// The token stream of [`CharBigramTokenizer`]; tokens are computed eagerly (passages are short).
pub struct BigramStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for CharBigramTokenizer {
    type TokenStream<'a> = BigramStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> BigramStream {
        BigramStream { tokens: bigrams(text), next: 0 }
    }
}

impl TokenStream for BigramStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

fn bigrams(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut run: Vec<(usize, char)> = Vec::new();
    let flush = |run: &mut Vec<(usize, char)>, end: usize, tokens: &mut Vec<Token>| {
        let mut push = |from: usize, to: usize, text: String| {
            let position = tokens.len();
            tokens.push(Token { offset_from: from, offset_to: to, position, text, position_length: 1 });
        };
        match run.len() {
            0 => {}
            1 => push(run[0].0, end, run[0].1.to_string()),
            n => {
                for i in 0..n - 1 {
                    let to = if i + 2 < n { run[i + 2].0 } else { end };
                    push(run[i].0, to, [run[i].1, run[i + 1].1].iter().collect());
                }
            }
        }
        run.clear();
    };
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            run.push((i, c));
        } else {
            flush(&mut run, i, &mut tokens);
        }
    }
    flush(&mut run, text.len(), &mut tokens);
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bigram_texts(s: &str) -> Vec<String> {
        bigrams(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn bigrams_stay_inside_runs() {
        assert_eq!(bigram_texts("住民票の写し"), ["住民", "民票", "票の", "の写", "写し"]);
        assert_eq!(bigram_texts("a、bc"), ["a", "bc"]);
        assert!(bigram_texts("。、 ").is_empty());
    }

    #[test]
    fn bigram_offsets_point_at_the_text() {
        let text = "交付手数料 300円";
        for t in bigrams(text) {
            assert_eq!(&text[t.offset_from..t.offset_to], t.text);
        }
    }

    #[test]
    fn prepare_folds_width_case_and_old_forms() {
        assert_eq!(prepare("ｶﾀｶﾅ"), "カタカナ");
        assert_eq!(prepare("ＡＢＣ１２３"), "abc123");
        assert_eq!(prepare("㈱"), "(株)");
        assert_eq!(prepare("國民健康保險"), "国民健康保険");
    }
}
