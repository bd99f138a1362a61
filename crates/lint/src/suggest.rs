//! "Did you mean" suggestions by edit distance.

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let lower = word.to_lowercase();
    let allowed = match word.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let distance = if candidate.to_lowercase() == lower {
            0
        } else {
            strsim::damerau_levenshtein(&lower, &candidate.to_lowercase())
        };
        if distance <= allowed
            && best.is_none_or(|(d, c)| distance < d || (distance == d && candidate < c))
        {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// `" (did you mean `x`?)"` or nothing.
pub(crate) fn hint<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let attrs = ["env", "labels", "binary", "base", "annotations"];
        assert_eq!(closest("enb", attrs), Some("env"));
        assert_eq!(closest("lables", attrs), Some("labels"));
        assert_eq!(closest("binray", attrs), Some("binary"));
        assert_eq!(closest("entrypoint", attrs), None);
        assert_eq!(closest("ENV", attrs), Some("env"));
    }
}
