//! Metadata heuristics shared by the text-like extractors: title, 文書番号, 発出者, 発出日 and
//! document type, read from the top of a document's normalised text.
//!
//! Japanese 通知 and 告示 follow a letterhead convention (number and date at the top right,
//! addressees ending in 殿, the issuer, then the title ending in について or 件), which these
//! heuristics follow. They only ever read the text, so a wrong guess costs a metadata field,
//! never the document.

use chrono::NaiveDate;

use crate::model::DocType;
use crate::text::{find_dates, normalize::is_cjk, parse_date};

/// How many leading paragraphs the heuristics look at.
const HEAD_LINES: usize = 40;

/// Metadata guessed from a document's text.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Meta {
    pub title: Option<String>,
    pub issuer: Option<String>,
    pub issued: Option<NaiveDate>,
    pub number: Option<String>,
    pub doc_type: DocType,
}

/// Guesses all fields from normalised text (one paragraph per line). `title_hint` (an HTML
/// `<title>` or Markdown `#` heading) wins over the guessed title when present.
pub(crate) fn guess(text: &str, title_hint: Option<&str>) -> Meta {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(HEAD_LINES)
        .collect();
    let number = find_number(&lines);
    let title = title_hint
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| guess_title(&lines));
    let doc_type = doc_type_for(title.as_deref().unwrap_or(""), number.as_deref(), &lines);
    Meta {
        issuer: find_issuer(&lines),
        issued: find_issued(&lines),
        number,
        title,
        doc_type,
    }
}

/// 告示 → Notice; 白書 → WhitePaper; 通知・通達・事務連絡・について → Circular;
/// ガイドライン・指針・計画・基準 → Guideline; judged on the title and number first, then the top
/// of the text.
pub(crate) fn doc_type_for(title: &str, number: Option<&str>, head: &[&str]) -> DocType {
    let number = number.unwrap_or("");
    if title.contains("告示") || number.contains("告示") {
        return DocType::Notice;
    }
    if title.contains("白書") {
        return DocType::WhitePaper;
    }
    let circular = ["通知", "通達", "事務連絡", "について", "依頼"];
    if circular.iter().any(|k| title.contains(k)) || number.contains('発') {
        return DocType::Circular;
    }
    if ["ガイドライン", "指針", "計画", "基準", "要領", "手引"]
        .iter()
        .any(|k| title.contains(k))
    {
        return DocType::Guideline;
    }
    let head = head.iter().take(15).copied().collect::<Vec<_>>().join("\n");
    if head.contains("告示第") {
        DocType::Notice
    } else if head.contains("白書") {
        DocType::WhitePaper
    } else if head.contains("事務連絡") || head.contains("通知") || head.contains("通達") {
        DocType::Circular
    } else {
        DocType::Other
    }
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF) || c == '々'
}

fn is_numeral(c: char) -> bool {
    c.is_ascii_digit() || "〇一二三四五六七八九十百千".contains(c)
}

/// Finds a 文書番号 in one line: 「厚生労働省告示第五十九号」「保医発0831第5号」「国税庁告示第2号」
/// 「個人課税課情報第6号」, or a line that is only a number such as 「官公1-15」.
fn number_in(line: &str) -> Option<(usize, String)> {
    let chars: Vec<char> = line.chars().collect();
    // X告示第N号, X通知第N号, X情報第N号 …: extend left over the issuer's name.
    for (i, _) in chars.iter().enumerate().filter(|(_, &c)| c == '第') {
        let num_len = chars[i + 1..].iter().take_while(|&&c| is_numeral(c)).count();
        if num_len == 0 || chars.get(i + 1 + num_len) != Some(&'号') {
            continue;
        }
        let end = i + 2 + num_len;
        let before: String = chars[..i].iter().collect();
        let series = ["告示", "訓令", "通達", "通知", "情報", "事務連絡"]
            .iter()
            .any(|s| before.ends_with(s));
        // 保医発0831第5号: a 発 abbreviation followed by the month-day digits.
        let digits = chars[..i].iter().rev().take_while(|c| c.is_ascii_digit()).count();
        let hatsu = (3..=4).contains(&digits) && i > digits && chars[i - digits - 1] == '発';
        if !series && !hatsu {
            continue;
        }
        let name_end = if hatsu { i - digits - 1 } else { i };
        let name_len = chars[..name_end]
            .iter()
            .rev()
            .take_while(|&&c| is_han(c) && !matches!(c, '年' | '月' | '日' | '写'))
            .count()
            .min(if hatsu { 4 } else { 12 });
        let start = name_end - name_len;
        if name_len == 0 && !series {
            continue;
        }
        return Some((start, chars[start..end].iter().collect()));
    }
    // 総務第12号, 市民第四十五号: a municipal office's series (its section name, no 告示/通知),
    // only when the line holds nothing else — mid-sentence this shape is a 項 or 号 of a law.
    let prefix = chars.iter().take_while(|&&c| is_han(c) && c != '第').count();
    let appendix = prefix > 0 && "表式記則紙".contains(chars[prefix - 1]); // 別表第1号, 様式第2号
    if (1..=8).contains(&prefix) && !appendix && chars.get(prefix) == Some(&'第') {
        let digits = chars[prefix + 1..].iter().take_while(|&&c| is_numeral(c)).count();
        let end = prefix + 2 + digits;
        // Normalisation may join the date line below: 「総務第12号令和2年4月1日」.
        let rest: String = chars.get(end..).unwrap_or_default().iter().collect();
        if digits > 0 && chars.get(end - 1) == Some(&'号') && (rest.is_empty() || parse_date(&rest).is_some()) {
            return Some((0, chars[..end].iter().collect()));
        }
    }
    // 官公1-15, 官総1-15: a short kanji prefix and a hyphenated number, alone on the line.
    let rest: String = chars[prefix..].iter().collect();
    if (1..=4).contains(&prefix)
        && rest.contains('-')
        && rest
            .split('-')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        return Some((0, line.to_string()));
    }
    None
}

/// The document's own number: one that opens a line near the top wins over one cited later.
fn find_number(lines: &[&str]) -> Option<String> {
    let mut first = None;
    for line in lines {
        let line = line.trim_start_matches(['○', '◯', '(', '〇']);
        // A table row 「個人課税課情報 | 第6号 | 平成18年12月4日」 reads as one line.
        let joined = line.replace(" | ", "");
        if let Some((start, n)) = number_in(line).or_else(|| number_in(&joined)) {
            if start == 0 {
                return Some(n);
            }
            first.get_or_insert(n);
        }
    }
    first
}

/// The issue date: a line that is only a date, else a date on a short line, else the first date
/// that is not a 施行/適用 start (「…から施行する」).
fn find_issued(lines: &[&str]) -> Option<NaiveDate> {
    if let Some(d) = lines.iter().find_map(|l| parse_date(l)) {
        return Some(d);
    }
    // A date that starts a period (「…から施行」「2020/1/15〜」) is not the issue date.
    let dates = |line: &'_ str| -> Vec<NaiveDate> {
        find_dates(line)
            .into_iter()
            .filter(|(range, _)| {
                let after = line.get(range.end..).unwrap_or("").trim_start();
                !["から", "まで", "以降", "〜", "~", "-", "より"]
                    .iter()
                    .any(|k| after.starts_with(k))
            })
            .map(|(_, d)| d)
            .collect()
    };
    lines
        .iter()
        .filter(|l| l.chars().count() <= 40)
        .find_map(|l| dates(l).first().copied())
        .or_else(|| lines.iter().find_map(|l| dates(l).first().copied()))
}

const ISSUER_SUFFIXES: &[&str] = &[
    "大臣",
    "長官",
    "局長",
    "部長",
    "課長",
    "室長",
    "管理官",
    "審議官",
    "次官",
    "知事",
    "市長",
    "町長",
    "村長",
    "区長",
    "議長",
    "会長",
    "委員会",
    "会議",
    "省",
    "庁",
    "局",
    "課",
    "府",
    "県",
    "都",
    "市",
    "町",
    "村",
];

/// Positions (the kind the issuer signs as) after which a personal name may follow.
const TITLE_SUFFIXES: &[&str] = &[
    "大臣",
    "長官",
    "局長",
    "部長",
    "課長",
    "室長",
    "管理官",
    "知事",
    "市長",
    "町長",
    "村長",
    "区長",
    "議長",
    "会長",
];

/// Splits a letterhead line at seal notes and table cells (「…課長(公印省略)…」「情報 | 第6号 | 国税庁」).
fn strip_seal(s: &str) -> String {
    s.replace("(公印省略)", "\n")
        .replace("(官印省略)", "\n")
        .replace("(印)", "\n")
        .replace(" | ", "\n")
}

/// 「令和2年3月音威子府村防災会議」→「音威子府村防災会議」: a date printed before the issuer.
fn strip_leading_date(s: &str) -> &str {
    let eras = ["令和", "平成", "昭和", "大正", "明治"];
    if !(eras.iter().any(|e| s.starts_with(e)) || s.starts_with(|c: char| c.is_ascii_digit())) {
        return s;
    }
    let mut end = 0;
    for (i, c) in s.char_indices().take(16) {
        match c {
            '年' | '月' | '日' => end = i + c.len_utf8(),
            c if c.is_ascii_digit() || is_numeral(c) || c == '元' || "令和平成昭和大正明治".contains(c) => {}
            _ => break,
        }
    }
    &s[end..]
}

/// Characters that name a public body or a post: an issuer line has one of them.
fn names_public_body(s: &str) -> bool {
    s.contains(['省', '庁', '府', '県', '都', '道', '市', '町', '村'])
        || ["大臣", "長官", "知事", "委員会"].iter().any(|k| s.contains(k))
}

fn issuer_in(part: &str) -> Option<String> {
    let part = strip_leading_date(part.trim())
        .trim()
        .trim_end_matches('(')
        .trim_start_matches(')')
        .trim();
    if !names_public_body(part) {
        return None;
    }
    let n = part.chars().count();
    if !(4..=40).contains(&n)
        || part.contains(['。', '、', '「', '」'])
        || part.contains("について")
        || part.starts_with('各')
    {
        return None;
    }
    if part.ends_with('殿') || part.ends_with("各位") || part.ends_with("御中") {
        return None;
    }
    if ISSUER_SUFFIXES.iter().any(|s| part.ends_with(s)) {
        return Some(part.to_string());
    }
    // 厚生労働大臣加藤勝信: cut a personal name after the position.
    for s in TITLE_SUFFIXES {
        if let Some(pos) = part.rfind(s) {
            let (head, tail) = part.split_at(pos + s.len());
            let name_len = tail.chars().count();
            if (1..=6).contains(&name_len) && tail.chars().all(is_han) {
                return Some(head.to_string());
            }
        }
    }
    None
}

/// The issuer: the first position-like line after the addressees (the block that ends in 殿).
fn find_issuer(lines: &[&str]) -> Option<String> {
    let after_addressees = lines.iter().rposition(|l| l.ends_with('殿')).map_or(0, |i| i + 1);
    let search = |from: usize| {
        lines[from..].iter().take(15).enumerate().find_map(|(i, l)| {
            let next_is_dono = lines.get(from + i + 1).is_some_and(|n| *n == "殿");
            if next_is_dono {
                return None;
            }
            strip_seal(l).lines().find_map(issuer_in)
        })
    };
    search(after_addressees)
}

/// Lines that are letterhead furniture rather than a title.
fn is_furniture(line: &str) -> bool {
    let stripped: String = line
        .chars()
        .filter(|c| !matches!(c, '(' | ')' | '-' | ' ' | '/'))
        .collect();
    matches!(
        stripped.as_str(),
        "写" | "記"
            | "以上"
            | "別紙"
            | "別添"
            | "目次"
            | "公印省略"
            | "官印省略"
            | "事務連絡"
            | "殿"
            | "案"
            | "参考"
            | "資料"
    ) || stripped.chars().all(|c| c.is_ascii_digit() || is_numeral(c))
        || line.starts_with("別紙") && line.chars().count() < 8
        || line.starts_with("別添") && line.chars().count() < 8
}

/// Whether the line is only a number and/or dates (「保医発0929第8号平成29年9月29日」).
fn is_number_or_date_line(line: &str) -> bool {
    let mut rest = line.to_string();
    for (range, _) in find_dates(line).into_iter().rev() {
        rest.replace_range(range, "");
    }
    if let Some((_, n)) = number_in(&rest) {
        rest = rest.replacen(&n, "", 1);
    }
    let rest: String = rest
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | ',' | '、'))
        .collect();
    rest.chars().count() < 3
}

/// Cuts an English subtitle joined onto a Japanese title, and trailing decoration.
fn tidy_title(line: &str) -> String {
    let t = line.trim_start_matches(['○', '◯', '■', '□', '●', '・']).trim();
    let cut = t
        .char_indices()
        .filter(|&(_, c)| c == ' ')
        .find(|&(i, _)| {
            let (head, tail) = t.split_at(i);
            head.chars().any(is_cjk) && tail.len() >= 20 && tail.is_ascii()
        })
        .map_or(t.len(), |(i, _)| i);
    let mut t = t[..cut].trim();
    // A page number printed after the title: 「…等について1」.
    let digits = t.chars().rev().take_while(|c| c.is_ascii_digit()).count();
    if (1..=3).contains(&digits) {
        let head = t[..t.len() - digits].trim_end();
        if head.ends_with("について") || head.ends_with('件') || head.ends_with(')') {
            t = head;
        }
    }
    if t.chars().count() > 120 {
        t.chars().take(120).collect()
    } else {
        t.to_string()
    }
}

fn guess_title(lines: &[&str]) -> Option<String> {
    let candidates: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| lines.get(i + 1).is_none_or(|next| *next != "殿"))
        .map(|(_, l)| *l)
        .filter(|l| l.chars().count() >= 4 && l.chars().any(is_cjk))
        .filter(|l| !is_furniture(l) && !is_number_or_date_line(l) && parse_date(l).is_none())
        .filter(|l| {
            !l.ends_with('殿')
                && !l.ends_with("各位")
                && issuer_in(strip_seal(l).lines().next().unwrap_or("")).is_none()
        })
        .collect();
    let titled = |l: &&str| {
        let core = l.trim_end_matches([')', '）']);
        let core = core.rsplit_once('(').map_or(core, |(h, _)| h);
        core.ends_with("について") || core.ends_with("する件") || core.ends_with("の件") || l.ends_with("(通知)")
    };
    let chosen = candidates
        .iter()
        .find(|l| titled(l))
        .or_else(|| {
            candidates
                .iter()
                .find(|l| !l.ends_with('。') && l.chars().count() <= 120)
        })
        .or_else(|| candidates.first())?;
    let title = extend_title(lines, chosen);
    Some(tidy_title(&title)).filter(|t| !t.is_empty())
}

/// A title printed over two or three lines: 「クラウドサービス利用のための」+「情報セキュリティ…」,
/// 「「…留意事項について」」+「等の一部改正について」.
fn extend_title(lines: &[&str], chosen: &str) -> String {
    let Some(mut first) = lines.iter().position(|l| *l == chosen) else {
        return chosen.to_string();
    };
    let mut last = first;
    let title_like = |l: &str| {
        let n = l.chars().count();
        (2..=60).contains(&n)
            && !l.ends_with('。')
            && !l.contains(['、', '。'])
            && !l.contains("印省略")
            && !is_furniture(l)
            && !is_number_or_date_line(l)
            && !l.ends_with('殿')
    };
    let continues = |before: &str, after: &str| {
        let ends_open =
            before.ends_with('」') || before.ends_with(['の', 'を', 'に', 'と', 'が', 'へ', 'や', 'で', 'は', 'も']);
        let starts_joined = after.starts_with(['等', 'の', 'に', 'を', 'と', '及', '並', '(']);
        ends_open || starts_joined
    };
    while first > 0 && last - first < 2 && title_like(lines[first - 1]) && continues(lines[first - 1], lines[first]) {
        first -= 1;
    }
    while last + 1 < lines.len()
        && last - first < 2
        && title_like(lines[last + 1])
        && continues(lines[last], lines[last + 1])
    {
        last += 1;
    }
    lines[first..=last].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, day)
    }

    #[test]
    fn tsuchi_letterhead() {
        let text = "写\n保医発0929第8号平成29年9月29日\n地方厚生(支)局医療課長都道府県民生主管部(局)国民健康保険主管課(部)長\n殿\n\
                    厚生労働省保険局医療課長(公印省略)厚生労働省保険局歯科医療管理官(公印省略)\n検査料の点数の取扱いについて\n\
                    標記について、「診療報酬の算定方法の一部改正に伴う実施上の留意事項について」(平成28年3月4日付け保医発0304第3号)を下記のとおり改正し、平成29年10月1日から適用する。";
        let m = guess(text, None);
        assert_eq!(m.title.as_deref(), Some("検査料の点数の取扱いについて"));
        assert_eq!(m.number.as_deref(), Some("保医発0929第8号"));
        assert_eq!(m.issued, d(2017, 9, 29));
        assert_eq!(m.issuer.as_deref(), Some("厚生労働省保険局医療課長"));
        assert_eq!(m.doc_type, DocType::Circular);
    }

    #[test]
    fn municipal_series_numbers_above_a_date() {
        for (text, number) in [
            ("人事第１２号\n平成３０年４月１日\n\n時間外勤務命令の手続について（通知）\n\n時間外勤務は、所属長が命令する。", "人事第12号"),
            ("総務第五十一号\n令和三年十月一日\n\n公用車の使用手続について（通知）\n\n公用車を使用するときは予約する。", "総務第五十一号"),
        ] {
            let normalized = crate::text::normalize(text);
            assert_eq!(guess(&normalized, None).number.as_deref(), Some(number), "{normalized:?}");
        }
    }

    #[test]
    fn kokuji() {
        let text = "特掲診療料の施設基準等の一部を改正する件\n○厚生労働省告示第五十九号\n\
                    診療報酬の算定方法(平成二十年厚生労働省告示第五十九号)の規定に基づき、令和二年四月一日から適用する。\n\
                    令和二年三月五日\n厚生労働大臣\n加藤\n勝信";
        let m = guess(text, None);
        assert_eq!(m.title.as_deref(), Some("特掲診療料の施設基準等の一部を改正する件"));
        assert_eq!(m.number.as_deref(), Some("厚生労働省告示第五十九号"));
        assert_eq!(m.issued, d(2020, 3, 5));
        assert_eq!(m.issuer.as_deref(), Some("厚生労働大臣"));
        assert_eq!(m.doc_type, DocType::Notice);
    }

    #[test]
    fn issuer_with_name_on_the_same_line() {
        assert_eq!(issuer_in("厚生労働大臣根本匠").as_deref(), Some("厚生労働大臣"));
        assert_eq!(issuer_in("国税庁長官").as_deref(), Some("国税庁長官"));
        assert_eq!(issuer_in("各国税局長 殿"), None);
        assert_eq!(issuer_in("標記について、通知する。"), None);
        assert_eq!(
            issuer_in("令和2年3月音威子府村防災会議").as_deref(),
            Some("音威子府村防災会議")
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(
            number_in("国税庁告示第2号").map(|x| x.1).as_deref(),
            Some("国税庁告示第2号")
        );
        assert_eq!(number_in("官公1-15").map(|x| x.1).as_deref(), Some("官公1-15"));
        assert_eq!(
            number_in("保発0819第1号").map(|x| x.1).as_deref(),
            Some("保発0819第1号")
        );
        assert_eq!(
            number_in("個人課税課情報第6号").map(|x| x.1).as_deref(),
            Some("個人課税課情報第6号")
        );
        assert_eq!(number_in("第3号に掲げる"), None);
        assert_eq!(number_in("総務第12号").map(|x| x.1).as_deref(), Some("総務第12号"));
        assert_eq!(number_in("市民第四十五号").map(|x| x.1).as_deref(), Some("市民第四十五号"));
        assert_eq!(number_in("総務第12号の規定により"), None);
        assert_eq!(number_in("様式第2号"), None);
        assert_eq!(number_in("総務第12号令和2年4月1日").map(|x| x.1).as_deref(), Some("総務第12号"));
        assert_eq!(number_in("令和2年-3"), None);
    }

    #[test]
    fn doc_types() {
        assert_eq!(
            doc_type_for("令和6年版科学技術・イノベーション白書", None, &[]),
            DocType::WhitePaper
        );
        assert_eq!(
            doc_type_for("音威子府村地域防災計画(地震災害対策編)", None, &[]),
            DocType::Guideline
        );
        assert_eq!(
            doc_type_for(
                "クラウドサービス利用のための情報セキュリティマネジメントガイドライン",
                None,
                &[]
            ),
            DocType::Guideline
        );
        assert_eq!(
            doc_type_for("情報システム安全対策基準", Some("通商産業省告示第518号"), &[]),
            DocType::Notice
        );
        assert_eq!(
            doc_type_for("新型コロナウイルス感染症患者の発生", None, &["報道提供資料"]),
            DocType::Other
        );
        assert_eq!(doc_type_for("事務連絡の件名", None, &[]), DocType::Circular);
    }

    #[test]
    fn title_over_two_lines() {
        let text = "写\n保医発0831第1号令和2年8月31日\n殿\n厚生労働省保険局医療課長(公印省略)\n「診療報酬の算定方法の一部改正に伴う実施上の留意事項について」\n等の一部改正について\n今般、下記のとおり改正する。";
        let m = guess(text, None);
        assert_eq!(
            m.title.as_deref(),
            Some("「診療報酬の算定方法の一部改正に伴う実施上の留意事項について」等の一部改正について")
        );
        let m = guess(
            "クラウドサービス利用のための\n情報セキュリティマネジメントガイドライン\n2013年度版\n経済産業省",
            None,
        );
        assert_eq!(
            m.title.as_deref(),
            Some("クラウドサービス利用のための情報セキュリティマネジメントガイドライン")
        );
        assert_eq!(m.issuer.as_deref(), Some("経済産業省"));
    }

    #[test]
    fn title_drops_english_subtitle() {
        let text = "クラウドサービス利用のための情報セキュリティマネジメントガイドライン Information security management guidelines for the use of cloud computing services\n2013年度版\n経済産業省";
        let m = guess(text, None);
        assert_eq!(
            m.title.as_deref(),
            Some("クラウドサービス利用のための情報セキュリティマネジメントガイドライン")
        );
        assert_eq!(m.doc_type, DocType::Guideline);
    }
}
