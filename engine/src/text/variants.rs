//! 旧字体・異体字 → 新字体 folding for the analysers.
//!
//! Stored text keeps the glyphs the issuer used (old 告示 and law texts print 國, 證, 條); the
//! keyword analyser applies [`to_shinjitai`] on both the index and the query side, so a query in
//! 新字体 finds text in 旧字体 and the other way round. The table is hand-written: the common
//! 旧字体 of the 常用漢字表, frequent name variants (髙, 﨑, 邊/邉) and a few 俗字 in official
//! use. Compatibility ideographs (U+F900–FAFF with canonical decompositions) are already folded
//! by NFKC in [`crate::text::normalize`], so they are not listed. Values are never keys, so the
//! fold is idempotent.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Pairs of (旧字体 or 異体字, 新字体), two characters per entry.
const PAIRS: &str = "
    亞亜 惡悪 壓圧 圍囲 爲為 醫医 壹壱 稻稲 飮飲 隱隠 營営 榮栄 衞衛 驛駅 圓円 鹽塩
    緣縁 艷艶 應応 歐欧 毆殴 櫻桜 奧奥 橫横 溫温 假仮 價価 畫画 會会 囘回 壞壊 懷懐
    繪絵 擴拡 殼殻 覺覚 學学 嶽岳 樂楽 勸勧 卷巻 寬寛 歡歓 罐缶 觀観 關関 陷陥 巖巌
    顏顔 歸帰 氣気 龜亀 僞偽 戲戯 犧犠 舊旧 據拠 擧挙 峽峡 挾挟 狹狭 曉暁 區区 驅駆
    勳勲 薰薫 徑径 莖茎 惠恵 揭掲 溪渓 經経 繼継 螢蛍 輕軽 鷄鶏 藝芸 缺欠 儉倹 劍剣
    圈圏 檢検 權権 獻献 縣県 險険 顯顕 驗験 嚴厳 效効 廣広 恆恒 鑛鉱 號号 國国 黑黒
    濟済 碎砕 齋斎 劑剤 雜雑 參参 慘惨 棧桟 蠶蚕 贊賛 殘残 絲糸 齒歯 兒児 辭辞 濕湿
    實実 舍舎 寫写 釋釈 壽寿 收収 從従 澁渋 獸獣 縱縦 肅粛 處処 緖緒 敍叙 將将 稱称
    燒焼 證証 奬奨 條条 狀状 乘乗 淨浄 剩剰 疊畳 孃嬢 讓譲 釀醸 眞真 寢寝 愼慎 盡尽
    粹粋 醉酔 穗穂 隨随 髓髄 數数 樞枢 聲声 靜静 齊斉 攝摂 竊窃 專専 淺浅 潛潜 戰戦
    纖繊 禪禅 錢銭 雙双 壯壮 爭争 莊荘 搜捜 插挿 巢巣 總総 騷騒 臟臓 藏蔵 卽即 屬属
    續続 墮堕 體体 對対 帶帯 滯滞 臺台 瀧滝 擇択 澤沢 單単 擔担 膽胆 團団 彈弾 斷断
    癡痴 遲遅 晝昼 蟲虫 鑄鋳 廳庁 聽聴 敕勅 鎭鎮 遞逓 鐵鉄 轉転 點点 傳伝 黨党 盜盗
    燈灯 當当 鬪闘 德徳 獨独 讀読 屆届 繩縄 貳弐 惱悩 腦脳 霸覇 廢廃 拜拝 賣売 麥麦
    發発 髮髪 拔抜 蠻蛮 祕秘 濱浜 甁瓶 拂払 佛仏 竝並 變変 邊辺 邉辺 辨弁 瓣弁 辯弁
    舖舗 步歩 寶宝 豐豊 沒没 飜翻 每毎 萬万 滿満 默黙 彌弥 譯訳 藥薬 與与 豫予 餘余
    譽誉 搖揺 樣様 謠謡 來来 賴頼 亂乱 覽覧 龍竜 兩両 獵猟 綠緑 淚涙 壘塁 勵励 禮礼
    隸隷 靈霊 齡齢 戀恋 爐炉 勞労 樓楼 郞郎 祿禄 錄録 灣湾 髙高 﨑崎 嵜崎 圖図 觸触
    稅税 說説 銳鋭 閱閲 悅悦 脫脱 內内 涉渉 靑青 淸清 晉晋 鬭闘 冨富 强強 乕虎 兔兎
    冱冴 册冊 凉涼 剏創 劒剣 劔剣 卻却 吳呉 噓嘘 姬姫 廐厩 廏厩 彥彦 搔掻 擊撃 攜携
    敎教 晚晩 曆暦 歷歴 檜桧 欵款 歲歳 渴渇 潑溌 瀨瀬 焰焔 牀床 瑤瑶 甞嘗 瘦痩 盃杯
    眾衆 硏研 礙碍 禰祢 穩穏 竈竃 簞箪 糺糾 絕絶 綫線 繫繋 羣群 脩修 舉挙 萠萌 蔣蒋
    藪薮 蘆芦 蠅蝿 讃賛 賤賎 踐践 軀躯 輛輌 迹跡 遙遥 醱醗 醬醤 鉤鈎 鎻鎖 閒間 雞鶏
    頰頬 頸頚 顚顛 餠餅 驒騨 鬥闘 鷗鴎 黃黄 屛屏 幷并 濤涛 瀆涜 增増
";

fn table() -> &'static HashMap<char, char> {
    static TABLE: OnceLock<HashMap<char, char>> = OnceLock::new();
    TABLE.get_or_init(|| {
        PAIRS
            .split_whitespace()
            .filter_map(|pair| {
                let mut it = pair.chars();
                match (it.next(), it.next(), it.next()) {
                    (Some(old), Some(new), None) => Some((old, new)),
                    _ => None,
                }
            })
            .collect()
    })
}

/// The 新字体 for one character, or the character itself.
pub fn fold_char(c: char) -> char {
    if (c as u32) < 0x3400 {
        return c; // fast path: nothing below the CJK blocks is in the table
    }
    table().get(&c).copied().unwrap_or(c)
}

/// Folds the full-size 「つ」 that laws written before 1988 use for the 促音 into 「っ」, where
/// it stands between a kanji or hiragana and 「た」「て」 (「あつた」「知つて」「よつて」 →
/// 「あった」「知って」「よって」). One character for one, so offsets stay valid. A word with a
/// real 「つ」 there (「かつて」) folds the same way on both sides of a comparison, so only
/// comparisons should use it.
pub fn fold_sokuon(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let before = |c: char| matches!(c, 'ぁ'..='ゖ') || matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '々');
    (0..chars.len())
        .map(|i| {
            let c = chars[i];
            if c == 'つ' && i > 0 && before(chars[i - 1]) && matches!(chars.get(i + 1), Some('た' | 'て')) {
                'っ'
            } else {
                c
            }
        })
        .collect()
}

/// Replaces 旧字体/異体字 with 新字体 (國→国, 證→証, 髙→高, 﨑→崎); other characters unchanged.
pub fn to_shinjitai(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_common_pairs() {
        assert_eq!(to_shinjitai("國民健康保險"), "国民健康保険");
        assert_eq!(to_shinjitai("證明書"), "証明書");
        assert_eq!(to_shinjitai("舊法第十條"), "旧法第十条");
        assert_eq!(to_shinjitai("學校體育"), "学校体育");
        assert_eq!(to_shinjitai("大藏省告示第一號"), "大蔵省告示第一号");
        assert_eq!(to_shinjitai("廳舍"), "庁舎");
        assert_eq!(to_shinjitai("會計檢査院"), "会計検査院");
        assert_eq!(to_shinjitai("髙﨑"), "高崎");
        assert_eq!(to_shinjitai("渡邊・渡邉"), "渡辺・渡辺");
        assert_eq!(to_shinjitai("辨護士・花瓣・辯論"), "弁護士・花弁・弁論");
    }

    #[test]
    fn the_sokuon_of_older_laws_reads_as_today() {
        assert_eq!(fold_sokuon("処分があつたことを知つた日から"), "処分があったことを知った日から");
        assert_eq!(fold_sokuon("これによつて、前項に規定する場合にあつては"), "これによって、前項に規定する場合にあっては");
        // A つ that starts a word, or is not followed by た/て, stays; katakana is never touched.
        assert_eq!(fold_sokuon("つたない。一つずつ。ツテ"), "つたない。一つずつ。ツテ");
        assert_eq!(fold_sokuon("知つた").chars().count(), "知つた".chars().count());
        assert_eq!(fold_sokuon("あった"), "あった");
    }

    #[test]
    fn leaves_other_text_alone() {
        let s = "新字体の文章とASCII 123、かな・カナ。";
        assert_eq!(to_shinjitai(s), s);
        assert_eq!(to_shinjitai(""), "");
    }

    #[test]
    fn table_is_well_formed_and_idempotent() {
        let entries: Vec<&str> = PAIRS.split_whitespace().collect();
        assert!(entries.len() >= 300, "only {} pairs", entries.len());
        assert!(entries.iter().all(|e| e.chars().count() == 2), "malformed entry");
        let t = table();
        assert_eq!(t.len(), entries.len(), "duplicate keys");
        for (old, new) in t {
            assert_ne!(old, new);
            assert!(!t.contains_key(new), "{new} is both a value and a key");
        }
        let all: String = t.keys().collect();
        let once = to_shinjitai(&all);
        assert_eq!(to_shinjitai(&once), once);
    }
}
