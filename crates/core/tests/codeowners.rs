//! The 34-case CODEOWNERS table from the GitHub reference (shared/reference/github.md §2.1), one
//! test per case, plus invalid-line reporting.

use kv_jit_core::github::codeowners::{Codeowners, LOCATIONS, Owner, Ownership};

/// `Some(owners)` when owned, `Some([])` when matched but un-owned, `None` when unmatched.
fn owners(file: &str, path: &str) -> Option<Vec<String>> {
    let parsed = Codeowners::parse(file);
    match parsed.ownership(path) {
        Ownership::Unmatched => None,
        Ownership::Unowned { .. } => Some(vec![]),
        Ownership::Owned { owners, .. } => Some(owners.iter().map(ToString::to_string).collect()),
    }
}

fn owned(file: &str, path: &str, expected: &[&str]) {
    let mut got = owners(file, path).unwrap_or_else(|| panic!("{path} unmatched by {file:?}"));
    got.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "{path} under {file:?}");
}

fn unmatched(file: &str, path: &str) {
    assert_eq!(owners(file, path), None, "{path} under {file:?}");
}

#[test]
fn c01_star_matches_everything() {
    owned("* @g", "a/b/c.txt", &["@g"]);
}
#[test]
fn c02_extension_any_depth() {
    owned("*.js @js", "a/b/c.js", &["@js"]);
}
#[test]
fn c03_extension_is_whole() {
    unmatched("*.js @js", "c.jsx");
}
#[test]
fn c04_rooted_dir_recursive() {
    owned("/build/logs/ @d", "build/logs/a/b.txt", &["@d"]);
}
#[test]
fn c05_rooted_dir_not_nested() {
    unmatched("/build/logs/ @d", "x/build/logs/y");
}
#[test]
fn c06_dir_star_direct_child() {
    owned("docs/* @e", "docs/getting-started.md", &["@e"]);
}
#[test]
fn c07_dir_star_not_grandchild() {
    unmatched("docs/* @e", "docs/build-app/t.md");
}
#[test]
fn c08_middle_slash_anchors() {
    unmatched("docs/* @e", "x/docs/a.md");
}
#[test]
fn c09_dir_anywhere_at_root() {
    owned("apps/ @o", "apps/x.js", &["@o"]);
}
#[test]
fn c10_dir_anywhere_nested() {
    owned("apps/ @o", "a/apps/x.js", &["@o"]);
}
#[test]
fn c11_double_star_dir_root() {
    owned("**/logs @o", "logs/x", &["@o"]);
}
#[test]
fn c12_double_star_dir_one_deep() {
    owned("**/logs @o", "build/logs/x", &["@o"]);
}
#[test]
fn c13_double_star_dir_deep() {
    owned("**/logs @o", "deeply/nested/logs/x", &["@o"]);
}
#[test]
fn c14_no_owners_unowns() {
    owned("/apps/ @o\n/apps/github\n", "apps/github/x", &[]);
}
#[test]
fn c15_unowning_is_narrow() {
    owned("/apps/ @o\n/apps/github\n", "apps/x", &["@o"]);
}
#[test]
fn c16_case_sensitive_paths() {
    unmatched("*.JS @o", "a.js");
}
#[test]
fn c17_path_matches_below() {
    owned("foo/bar @o", "foo/bar/baz.rs", &["@o"]);
}
#[test]
fn c18_path_anchored() {
    unmatched("foo/bar @o", "x/foo/bar/baz.rs");
}
#[test]
fn c19_rooted_glob_file() {
    owned("/requests/*.yaml @o", "requests/a.yaml", &["@o"]);
}
#[test]
fn c20_rooted_glob_not_nested() {
    unmatched("/requests/*.yaml @o", "requests/x/a.yaml");
}
#[test]
fn c21_ranges_unsupported() {
    owned("* @g\n[ab].txt @o\n", "a.txt", &["@g"]);
}
#[test]
fn c22_negation_unsupported() {
    owned("* @g\n!foo @o\n", "foo", &["@g"]);
}
#[test]
fn c23_inline_comment() {
    owned("*.js @js #comment", "a.js", &["@js"]);
}
#[test]
fn c24_double_star_middle_zero() {
    owned("a/**/b @o", "a/b", &["@o"]);
}
#[test]
fn c25_double_star_middle_many() {
    owned("a/**/b @o", "a/x/y/b", &["@o"]);
}
#[test]
fn c26_question_one_char() {
    owned("?.md @o", "a.md", &["@o"]);
}
#[test]
fn c27_question_not_two() {
    unmatched("?.md @o", "ab.md");
}
#[test]
fn c28_team_and_user() {
    owned(
        "* @g\n/requests/ @org/team @alice\n",
        "requests/x.yaml",
        &["@alice", "@org/team"],
    );
}
#[test]
fn c29_last_match_wins() {
    owned("/requests/ @a\n*.yaml @b\n", "requests/x.yaml", &["@b"]);
}
#[test]
fn c30_crlf() {
    owned("# c\r\n*.yaml @o\r\n", "requests/x.yaml", &["@o"]);
}
#[test]
fn c31_root_star_file() {
    owned("/* @o", "a.txt", &["@o"]);
}
#[test]
fn c32_root_star_not_nested() {
    unmatched("/* @o", "d/a.txt");
}
#[test]
fn c33_email_owner() {
    owned("*.go docs@example.com", "main.go", &["docs@example.com"]);
}
#[test]
fn c34_indented_comment() {
    unmatched("   # c @o", "c");
}

#[test]
fn invalid_lines_are_reported_and_skipped() {
    let parsed = Codeowners::parse("* @g\n!foo @o\n[ab].txt @o\n*.rs not-an-owner\n\\#x @o\n");
    let lines: Vec<usize> = parsed.errors().iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5]);
    assert!(
        parsed.errors()[2]
            .to_string()
            .contains("invalid owner `not-an-owner`")
    );
    assert_eq!(
        parsed.ownership("x.rs").owners(),
        &[Owner::User("g".into())]
    );
}

#[test]
fn owner_kinds_and_line_numbers() {
    let parsed = Codeowners::parse("\n/requests/ @Org/Sec-Team @Alice a@b.io\n");
    assert_eq!(
        parsed.ownership("requests/x.yaml"),
        Ownership::Owned {
            line: 2,
            owners: &[
                Owner::Team {
                    org: "Org".into(),
                    slug: "Sec-Team".into()
                },
                Owner::User("Alice".into()),
                Owner::Email("a@b.io".into()),
            ]
        }
    );
    assert!(Owner::User("alice".into()).same_as(&Owner::User("ALICE".into())));
    assert!(!Owner::User("alice".into()).same_as(&Owner::User("alicia".into())));
}

#[test]
fn lookup_order_is_github_root_docs() {
    assert_eq!(
        LOCATIONS,
        [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"]
    );
}

#[test]
fn oversized_file_is_not_loaded() {
    let big = format!("* @g\n{}", "#".repeat(3 * 1024 * 1024));
    let parsed = Codeowners::parse(&big);
    assert_eq!(parsed.ownership("a").owners(), &[] as &[Owner]);
    assert_eq!(parsed.errors().len(), 1);
}

#[test]
fn hostile_patterns_stay_fast() {
    let pattern = format!("{} @o", "*a".repeat(40) + "b");
    let path = "a".repeat(200);
    let started = std::time::Instant::now();
    assert_eq!(
        Codeowners::parse(&pattern).ownership(&path),
        Ownership::Unmatched
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn question_mark_is_one_character_not_one_byte() {
    owned("?.md @o", "é.md", &["@o"]);
}

#[test]
fn emu_login_with_underscore_shortcode_is_a_valid_owner() {
    // Enterprise Managed Users are `handle_shortcode` (GitHub docs, "Username considerations
    // for external authentication"); the setup user is `shortcode_admin`.
    let parsed = Codeowners::parse("/requests/ @mona-lisa_acme @acme_admin @acme/sec_team\n");
    assert!(parsed.errors().is_empty(), "{:?}", parsed.errors());
    owned(
        "/requests/ @mona-lisa_acme @acme_admin",
        "requests/x.yaml",
        &["@mona-lisa_acme", "@acme_admin"],
    );
}

#[test]
fn genuinely_invalid_logins_stay_invalid() {
    for bad in [
        "@_acme",
        "@mona_",
        "@mona__acme",
        "@mona_ac_me",
        "@mona_ac-me",
        "@-mona",
        "@mona!",
        "@acme_org/team",
        "@",
        &format!("@{}_acme", "a".repeat(35)),
    ] {
        let parsed = Codeowners::parse(&format!("* {bad}\n"));
        assert_eq!(parsed.errors().len(), 1, "{bad} must be refused");
    }
}

#[test]
fn pick_takes_the_first_location_github_would() {
    use kv_jit_core::github::codeowners::pick;
    let mut asked = Vec::new();
    let found = pick(|path| {
        asked.push(path.to_owned());
        (path != ".github/CODEOWNERS").then(|| format!("* @{}", path.len()))
    });
    let (path, file) = found.unwrap();
    assert_eq!(path, "CODEOWNERS");
    assert_eq!(file.ownership("x").owners(), &[Owner::User("10".into())]);
    assert_eq!(
        asked,
        [".github/CODEOWNERS", "CODEOWNERS"],
        "stops at the first"
    );
    assert!(pick(|_| None).is_none());
}
