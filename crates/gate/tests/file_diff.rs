//! writ's own diffs (`file_diff`, used by `writ rules suggest` and by
//! `writ ask` to turn a find/replace into a proposal) always pass writ's
//! strict parser and apply exactly: old text in, new text out.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(prop_oneof!["a", "b", "c", "", "d e"], 0..12).prop_flat_map(|lines| {
        any::<bool>().prop_map(move |end| {
            let mut t = lines.join("\n");
            if end && !t.is_empty() {
                t.push('\n');
            }
            t
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn file_diff_parses_and_applies_exactly(old in text(), new in text()) {
        prop_assume!(old != new);
        let diff = writ_gate::file_diff("x.txt", &old, &new);
        let patches = writ_proposal::parse_diff(&diff)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{diff}")))?;
        prop_assert_eq!(patches.len(), 1);
        let applied = patches[0].apply(&old);
        prop_assert_eq!(applied.as_deref(), Some(new.as_str()), "{}", diff);
    }
}
