//! The markup the `insert_` functions print: django-hitcount's inline
//! variables, and the one external script that counts under a strict
//! Content-Security-Policy.

use crate::ajax::JsContext;
use crate::state::HitCount;

/// django-hitcount's `insert_hit_count_js_variables`, byte for byte, plus
/// the page token when the endpoint requires one, `hitcountCSRF : false`
/// without cookies (`hitcount.js` then asks for no CSRF token), and the
/// page's CSP nonce when it has one.
pub(super) fn script_variables(state: &HitCount, vars: &JsContext, nonce: Option<&str>) -> String {
    let token = if state.config().require_token {
        format!(",hitcountToken : '{}'", js_string(&vars.token))
    } else {
        String::new()
    };
    let csrf = if state.config().cookie_free() {
        ",hitcountCSRF : false"
    } else {
        ""
    };
    let nonce = nonce.map(|n| format!(" nonce=\"{n}\"")).unwrap_or_default();
    format!(
        "<script type=\"text/javascript\"{nonce}>\nvar hitcountJS = {{hitcountPK : '{}',hitcountURL : '{}'{token}{csrf}}};\n</script>",
        vars.pk,
        js_string(&vars.ajax_url)
    )
}

/// django-hitcount's `insert_hit_count_js`, as one external script and no
/// inline code, so that it runs under a Content-Security-Policy of
/// `script-src 'self'`: the bundled script reads the hit from its `data-`
/// attributes, sets `window.hitcountJS` for the page's own code, and
/// counts; with `debug`, it logs the answer. Without cookies,
/// `data-hitcount-csrf="off"` tells it to ask for no CSRF token.
pub(super) fn count_script(state: &HitCount, vars: &JsContext, debug: bool) -> String {
    let token = if state.config().require_token {
        format!(" data-hitcount-token=\"{}\"", attribute(&vars.token))
    } else {
        String::new()
    };
    format!(
        "<script src=\"{}\" data-hitcount-pk=\"{}\" data-hitcount-url=\"{}\"{token}{}{}></script>",
        attribute(&vars.script_url),
        vars.pk,
        attribute(&vars.ajax_url),
        if state.config().cookie_free() {
            " data-hitcount-csrf=\"off\""
        } else {
            ""
        },
        if debug { " data-hitcount-debug" } else { "" }
    )
}

/// Text safe inside a double-quoted HTML attribute.
fn attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Text safe inside a single-quoted JavaScript string in an HTML `<script>`.
fn js_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\x22"),
            '<' => out.push_str("\\x3c"),
            '>' => out.push_str("\\x3e"),
            '&' => out.push_str("\\x26"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_cannot_be_left() {
        assert_eq!(attribute("/hitcount/hit/ajax/"), "/hitcount/hit/ajax/");
        assert_eq!(
            attribute(r#"a" onload="x()"><script>&"#),
            "a&quot; onload=&quot;x()&quot;&gt;&lt;script&gt;&amp;"
        );
    }

    #[test]
    fn script_strings_cannot_break_out() {
        assert_eq!(js_string("/a'b\\c</script>"), "/a\\'b\\\\c\\x3c/script\\x3e");
        assert_eq!(js_string("a\nb"), "a\\u000ab");
    }
}
