//! Templates that call the crate's functions although none were
//! registered: found at liftoff, so that the app's log says how to
//! register them instead of Tera's "function not found" at the first page.

use std::path::{Path, PathBuf};

use rocket::figment::value::magic::RelativePathBuf;
use rocket::figment::Figment;

use super::Name;

/// When a template in the app's `template_dir` calls one of the functions
/// although none were registered: a message that says how to register
/// them.
pub(crate) fn unregistered_calls(figment: &Figment) -> Option<String> {
    let dir = figment
        .extract_inner::<RelativePathBuf>("template_dir")
        .map(|path| path.relative())
        .unwrap_or_else(|_| PathBuf::from("templates"));
    let (template, name) = first_call(&dir)?;
    Some(format!(
        "template {} calls `{name}`, but rocket-hitcount's Tera functions are not registered: \
         attach `HitCount::templates()` in place of `Template::fairing()` \
         (or `HitCount::custom_templates(f)` in place of `Template::custom(f)`)",
        template.display()
    ))
}

/// The first `.tera` template under `dir` (folders included, links not
/// followed, eight levels deep at most) that calls one of the crate's
/// functions, and which.
fn first_call(dir: &Path) -> Option<(PathBuf, &'static str)> {
    first_call_within(dir, 8)
}

fn first_call_within(dir: &Path, depth: u32) -> Option<(PathBuf, &'static str)> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
    entries.sort_by_key(|entry| entry.path());
    entries.into_iter().find_map(|entry| {
        let (path, kind) = (entry.path(), entry.file_type().ok()?);
        if kind.is_dir() {
            return depth
                .checked_sub(1)
                .and_then(|depth| first_call_within(&path, depth));
        }
        if !kind.is_file() || path.extension().is_none_or(|ext| ext != "tera") {
            return None;
        }
        let text = std::fs::read_to_string(&path).ok()?;
        // `most_viewed` may be an app's own function too.
        Name::ALL
            .into_iter()
            .filter(|name| *name != Name::MostViewed)
            .map(Name::as_str)
            .find(|name| calls(&text, name))
            .map(|name| (path, name))
    })
}

/// Whether `text` calls function `name`: the name, not inside a longer
/// one, followed by `(`.
fn calls(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].trim_start();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && after.starts_with('(')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_told_from_other_words() {
        assert!(calls("{{ get_hit_count(for=post) }}", "get_hit_count"));
        assert!(calls("{% set n = get_hit_count (for=post) %}", "get_hit_count"));
        assert!(!calls("{{ get_hit_counts(for=posts) }}", "get_hit_count"));
        assert!(!calls("{{ my_get_hit_count(for=post) }}", "get_hit_count"));
        assert!(!calls("get_hit_count is a function", "get_hit_count"));
    }

    #[test]
    fn unregistered_calls_name_the_template_and_the_fix() {
        let dir = std::env::temp_dir().join(format!("hitcount-templates-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("blog")).unwrap();
        std::fs::write(dir.join("base.html.tera"), "<title>{{ title }}</title>").unwrap();
        let figment = Figment::from(("template_dir", dir.display().to_string()));
        assert_eq!(unregistered_calls(&figment), None, "no call, no message");
        let post = dir.join("blog").join("post.html.tera");
        std::fs::write(&post, "{{ get_hit_count(for=post) }} views").unwrap();
        let message = unregistered_calls(&figment).expect("a call is found in a subfolder");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(message.contains(&post.display().to_string()), "{message}");
        assert!(message.contains("`get_hit_count`"), "{message}");
        assert!(message.contains("HitCount::templates()"), "{message}");
    }
}
