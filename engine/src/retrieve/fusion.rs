//! Fusion of the keyword and vector rankings into one.
//!
//! BM25 and cosine similarity have unrelated scales. The default fusion turns each side's
//! scores into z-scores over its own candidates and adds them with the side weights: unlike
//! reciprocal rank fusion, it keeps how far the best candidate stands out, so a side that is
//! sure of its answer outweighs one that is not. RRF (ranks only) remains as an option;
//! [`SearchConfig`] holds the choice and the weights.

use std::collections::HashMap;

use crate::config::{Fusion, SearchConfig};
use crate::index::keyword::KeywordHit;
use crate::index::vector::VectorHit;

/// A fused ranking entry: passage id, fused score, 1-based rank on the keyword and vector side.
pub type Fused = (String, (f32, Option<usize>, Option<usize>));

/// Fuses the two sides' rankings as `config.fusion` says, best first (ties by passage id, so
/// that a ranking is reproducible).
pub fn fuse(config: &SearchConfig, keyword: &[KeywordHit], vector: &[VectorHit]) -> Vec<Fused> {
    let mut fused: HashMap<String, (f32, Option<usize>, Option<usize>)> = HashMap::new();
    match config.fusion {
        Fusion::Rrf => {
            let k = config.rrf_k;
            for (i, hit) in keyword.iter().enumerate() {
                let e = fused.entry(hit.passage_id.clone()).or_default();
                e.0 += config.keyword_weight / (k + (i + 1) as f32);
                e.1 = Some(i + 1);
            }
            for (i, hit) in vector.iter().enumerate() {
                let e = fused.entry(hit.passage_id.clone()).or_default();
                e.0 += config.vector_weight / (k + (i + 1) as f32);
                e.2 = Some(i + 1);
            }
        }
        Fusion::Zscore => {
            let (kz, kmin) = zscores(keyword.iter().map(|h| h.score));
            let (vz, vmin) = zscores(vector.iter().map(|h| h.score));
            for (i, hit) in keyword.iter().enumerate() {
                fused.entry(hit.passage_id.clone()).or_default().1 = Some(i + 1);
            }
            for (i, hit) in vector.iter().enumerate() {
                fused.entry(hit.passage_id.clone()).or_default().2 = Some(i + 1);
            }
            // A passage one side did not return gets that side's floor: it ranked below every
            // candidate the side did return.
            for e in fused.values_mut() {
                let k = e.1.map_or(kmin, |r| kz[r - 1]);
                let v = e.2.map_or(vmin, |r| vz[r - 1]);
                e.0 = config.keyword_weight * k + config.vector_weight * v;
            }
        }
    }
    let mut ranked: Vec<Fused> = fused.into_iter().collect();
    ranked.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
    ranked
}

/// Scores as z-scores over the list, with the floor a passage missing from the list gets (the
/// lowest z-score). BM25 and cosine similarity have unrelated scales, and a z-score says how far
/// a candidate stands out from the rest of its own side. A list without spread (one candidate,
/// or all tied) gives its members 1 and the floor 0: being found still counts.
fn zscores(scores: impl Iterator<Item = f32>) -> (Vec<f32>, f32) {
    let s: Vec<f32> = scores.collect();
    let n = s.len() as f32;
    let mean = s.iter().sum::<f32>() / n.max(1.0);
    let sd = (s.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n.max(1.0)).sqrt();
    if sd <= f32::EPSILON || !sd.is_finite() {
        return (vec![1.0; s.len()], 0.0);
    }
    let z: Vec<f32> = s.iter().map(|x| (x - mean) / sd).collect();
    let floor = z.iter().copied().fold(f32::INFINITY, f32::min);
    (z, floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(hits: &[(&str, f32)]) -> Vec<KeywordHit> {
        hits.iter().map(|(p, s)| KeywordHit { passage_id: p.to_string(), doc_id: format!("d-{p}"), score: *s }).collect()
    }

    fn vec_hits(hits: &[(&str, f32)]) -> Vec<VectorHit> {
        hits.iter().map(|(p, s)| VectorHit { passage_id: p.to_string(), doc_id: format!("d-{p}"), score: *s }).collect()
    }

    fn order(fused: &[Fused]) -> Vec<&str> {
        fused.iter().map(|(id, _)| id.as_str()).collect()
    }

    #[test]
    fn zscore_fusion_lets_the_side_that_is_sure_decide() {
        let config = SearchConfig::default();
        assert_eq!(config.fusion, Fusion::Zscore);
        // BM25 barely separates a and b; the vector side puts b far ahead of the rest.
        let k = kw(&[("a", 10.2), ("b", 10.0), ("c", 9.9), ("d", 9.8)]);
        let v = vec_hits(&[("b", 0.93), ("a", 0.80), ("c", 0.79), ("d", 0.78)]);
        let fused = fuse(&config, &k, &v);
        assert_eq!(order(&fused)[0], "b");
        // Ranks only: RRF with equal weights sees a tie between a and b, broken by id.
        let rrf = SearchConfig { fusion: Fusion::Rrf, keyword_weight: 1.0, vector_weight: 1.0, ..SearchConfig::default() };
        assert_eq!(order(&fuse(&rrf, &k, &v))[..2], ["a", "b"]);
        let b = fused.iter().find(|(id, _)| id == "b").expect("b fused");
        assert_eq!((b.1 .1, b.1 .2), (Some(2), Some(1)));
    }

    #[test]
    fn zscore_fusion_puts_a_passage_one_side_missed_at_that_sides_floor() {
        let config = SearchConfig::default();
        let k = kw(&[("a", 12.0), ("b", 6.0), ("c", 3.0)]);
        let v = vec_hits(&[("x", 0.90), ("a", 0.85), ("c", 0.84)]);
        let fused = fuse(&config, &k, &v);
        assert_eq!(order(&fused)[0], "a", "found first and second on the two sides");
        let x = fused.iter().find(|(id, _)| id == "x").expect("x fused");
        assert_eq!(x.1 .1, None);
        let c = fused.iter().find(|(id, _)| id == "c").expect("c fused");
        assert!(x.1 .0 > c.1 .0, "a vector-only best hit beats a passage last on both sides");
    }

    #[test]
    fn zscore_fusion_counts_a_lone_keyword_hit() {
        // One keyword hit has no spread, but being found still lifts it over the vector side's
        // best passage that the keyword side did not find.
        let k = kw(&[("only", 7.5)]);
        let v = vec_hits(&[("x", 0.90), ("only", 0.85), ("y", 0.50)]);
        assert_eq!(order(&fuse(&SearchConfig::default(), &k, &v))[0], "only");
    }

    #[test]
    fn fusion_with_one_side_empty_keeps_the_other_sides_order() {
        for fusion in [Fusion::Zscore, Fusion::Rrf] {
            let config = SearchConfig { fusion, ..SearchConfig::default() };
            let v = vec_hits(&[("p", 0.9), ("q", 0.8), ("r", 0.7)]);
            assert_eq!(order(&fuse(&config, &[], &v)), ["p", "q", "r"]);
            let k = kw(&[("only", 4.0)]);
            assert_eq!(order(&fuse(&config, &k, &[])), ["only"]);
            assert!(fuse(&config, &[], &[]).is_empty());
        }
    }
}
