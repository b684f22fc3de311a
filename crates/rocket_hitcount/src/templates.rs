//! Tera functions that mirror django-hitcount's template tags, registered
//! through `rocket_dyn_templates` (see `docs/displaying-hits.md`).
//!
//! Tera functions are synchronous and see only their arguments. They read
//! through the counter's [`BlockingCounter`]: totals from the read cache
//! when this instance knows them (exact for its own hits, at most
//! `counts_refresh` late for other instances'), otherwise from a thread
//! with its own runtime and pool, so a render never panics or deadlocks on
//! any runtime, and on Rocket's multi-threaded one other requests go on
//! while a render waits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use hitcount::{BlockingCounter, ObjectRef, Window};
use rocket::fairing::{AdHoc, Fairing};
use rocket::figment::value::magic::RelativePathBuf;
use rocket::figment::Figment;
use rocket_dyn_templates::tera::{self, Tera, Value};
use rocket_dyn_templates::{Engines, Template};
use serde_json::json;

use crate::ajax::JsContext;
use crate::state::HitCount;

/// The most objects `most_viewed` returns.
const MAX_MOST_VIEWED: u64 = 1000;

/// The template functions of one app, for a [`Tera`] of your own: most
/// apps attach [`HitCount::templates`] instead, which registers them in
/// Rocket's templates. Get them from the fairing with
/// [`Initializer::template_functions`](crate::Initializer::template_functions)
/// and register them where you render; the fairing connects them to the
/// counter when the app ignites.
///
/// ```rust,no_run
/// use rocket_db_pools::{sqlx, Database};
/// use rocket_dyn_templates::tera::Tera;
/// use rocket_hitcount::HitCount;
///
/// #[derive(Database)]
/// #[database("blog")]
/// struct Blog(sqlx::SqlitePool);
///
/// #[rocket::launch]
/// fn rocket() -> _ {
///     let hitcount = HitCount::init::<Blog>();
///     let mut tera = Tera::default();
///     hitcount.template_functions().register(&mut tera);
///     rocket::build().attach(Blog::init()).attach(hitcount).manage(tera)
/// }
/// ```
#[derive(Clone, Default)]
pub struct TemplateFunctions {
    bound: Arc<OnceLock<Bound>>,
    registered: Arc<AtomicBool>,
}

struct Bound {
    state: HitCount,
    blocking: OnceLock<BlockingCounter>,
}

impl TemplateFunctions {
    /// Registers `get_hit_count`, `get_hit_counts`, `get_hit_count_js_variables`,
    /// `insert_hit_count_js_variables`, `insert_hit_count_js` and `most_viewed`.
    ///
    /// ```
    /// let mut tera = rocket_dyn_templates::tera::Tera::default();
    /// rocket_hitcount::TemplateFunctions::default().register(&mut tera);
    /// // Not connected to a counter (no fairing ignited): a clear error.
    /// let err = tera.render_str("{{ get_hit_count(for='blog.post:1') }}", &Default::default()).unwrap_err();
    /// let chain = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
    ///     .map(|e| e.to_string())
    ///     .collect::<Vec<_>>()
    ///     .join(": ");
    /// assert!(chain.contains("HitCount::init"), "{chain}");
    /// ```
    pub fn register(&self, tera: &mut Tera) {
        self.registered.store(true, Ordering::Relaxed);
        let function = |name| Function {
            name,
            functions: self.clone(),
        };
        for name in Name::ALL {
            tera.register_function(name.as_str(), function(name));
        }
    }

    /// Whether [`TemplateFunctions::register`] was called.
    pub(crate) fn registered(&self) -> bool {
        self.registered.load(Ordering::Relaxed)
    }

    /// Connects the functions to the app's counter (the fairing does, at
    /// ignite).
    pub(crate) fn bind(&self, state: HitCount) {
        let _ = self.bound.set(Bound {
            state,
            blocking: OnceLock::new(),
        });
    }
}

/// The functions registered by [`HitCount::templates`], managed so that
/// the counter's fairing can connect them at liftoff.
pub(crate) struct Attached(pub TemplateFunctions);

/// Rocket's templates (`Template::custom(customize)`) with the functions
/// registered first: what [`HitCount::templates`] and
/// [`HitCount::custom_templates`] attach.
pub(crate) fn fairing<F>(customize: F) -> impl Fairing
where
    F: Fn(&mut Engines) + Send + Sync + 'static,
{
    AdHoc::on_ignite("rocket-hitcount templates", move |rocket| async move {
        let functions = TemplateFunctions::default();
        let registered = functions.clone();
        rocket
            .manage(Attached(functions))
            .attach(Template::custom(move |engines| {
                registered.register(&mut engines.tera);
                customize(engines);
            }))
    })
}

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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Name {
    GetHitCount,
    GetHitCounts,
    JsVariables,
    InsertJsVariables,
    InsertJs,
    MostViewed,
}

impl Name {
    const ALL: [Name; 6] = [
        Name::GetHitCount,
        Name::GetHitCounts,
        Name::JsVariables,
        Name::InsertJsVariables,
        Name::InsertJs,
        Name::MostViewed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Name::GetHitCount => "get_hit_count",
            Name::GetHitCounts => "get_hit_counts",
            Name::JsVariables => "get_hit_count_js_variables",
            Name::InsertJsVariables => "insert_hit_count_js_variables",
            Name::InsertJs => "insert_hit_count_js",
            Name::MostViewed => "most_viewed",
        }
    }
}

struct Function {
    name: Name,
    functions: TemplateFunctions,
}

/// A function's arguments, with errors that name the function.
struct Call<'a> {
    name: Name,
    args: &'a HashMap<String, Value>,
}

type Args = HashMap<String, Value>;

impl tera::Function for Function {
    fn call(&self, args: &Args) -> tera::Result<Value> {
        let call = Call {
            name: self.name,
            args,
        };
        let bound = self.functions.bound.get().ok_or_else(|| {
            call.error("rocket-hitcount's fairing has not set the functions up: attach HitCount::init and register the functions its `template_functions()` returns")
        })?;
        let blocking = match bound.blocking.get() {
            Some(blocking) => blocking,
            None => {
                let started = bound.state.counter().blocking().map_err(|e| call.error(e))?;
                bound.blocking.get_or_init(|| started)
            }
        };
        match self.name {
            Name::GetHitCount => call.hit_count(blocking),
            Name::GetHitCounts => call.hit_counts(blocking),
            Name::JsVariables => Ok(json!(call.js_variables(&bound.state, blocking)?)),
            Name::InsertJsVariables => {
                let vars = call.js_variables(&bound.state, blocking)?;
                Ok(Value::String(script_variables(
                    &vars,
                    bound.state.config().require_token,
                )))
            }
            Name::InsertJs => {
                let vars = call.js_variables(&bound.state, blocking)?;
                let debug = call.flag("debug")?;
                Ok(Value::String(count_script(&bound.state, &vars, debug)))
            }
            Name::MostViewed => call.most_viewed(blocking),
        }
    }

    fn is_safe(&self) -> bool {
        matches!(self.name, Name::InsertJsVariables | Name::InsertJs)
    }
}

impl Call<'_> {
    fn error(&self, problem: impl std::fmt::Display) -> tera::Error {
        tera::Error::msg(format!("{}: {problem}", self.name.as_str()))
    }

    fn flag(&self, key: &str) -> tera::Result<bool> {
        match self.args.get(key) {
            None => Ok(false),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(other) => Err(self.error(format!("`{key}` must be true or false, not {other}"))),
        }
    }

    /// `within`, if given: `"days=1,minutes=30"`, `"90 minutes"` or a map
    /// such as `{"hours": 1}` from the context.
    fn window(&self) -> tera::Result<Option<Window>> {
        let Some(within) = self.args.get("within") else {
            return Ok(None);
        };
        // The core's own reading of settings: both grammars and the map.
        let parsed = match within {
            Value::String(_) | Value::Object(_) => {
                serde_json::from_value::<Window>(within.clone()).map_err(|e| e.to_string())
            }
            other => Err(format!(
                "expected a window such as \"days=1,minutes=30\", got {other}"
            )),
        };
        parsed.map(Some).map_err(|e| self.error(format!("`within`: {e}")))
    }

    /// The object of `for` (see [`object_of`]).
    fn object(&self) -> tera::Result<ObjectRef> {
        let kind = self.kind()?;
        match (self.args.get("for"), self.args.get("id")) {
            (Some(value), _) => object_of(value, kind).map_err(|e| self.error(format!("`for`: {e}"))),
            (None, Some(id)) => match kind {
                Some(kind) => id_of(id)
                    .and_then(|id| ObjectRef::new(kind, id).map_err(|e| e.to_string()))
                    .map_err(|e| self.error(format!("`id`: {e}"))),
                None => Err(self.error("`id` needs `kind` (e.g. kind=\"blog.post\", id=post.id)")),
            },
            (None, None) => Err(self.error(
                "missing argument `for`: the object whose hits to show (e.g. for=post, or for=\"blog.post:1\")",
            )),
        }
    }

    fn kind(&self) -> tera::Result<Option<&str>> {
        match self.args.get("kind") {
            None => Ok(None),
            Some(Value::String(kind)) => Ok(Some(kind)),
            Some(other) => Err(self.error(format!(
                "`kind` must be a string such as \"blog.post\", not {other}"
            ))),
        }
    }

    fn hit_count(&self, blocking: &BlockingCounter) -> tera::Result<Value> {
        let object = self.object()?;
        let hits = match self.window()? {
            None => blocking.hits(&object),
            Some(window) => {
                blocking.run(move |counter| async move { counter.hits_in_last(&object, window).await })
            }
        };
        Ok(json!(hits.map_err(|e| self.error(e))?))
    }

    /// `get_hit_counts(for=posts, kind="blog.post")`: each element of the
    /// list with its counts, in the list's order, read in one query.
    fn hit_counts(&self, blocking: &BlockingCounter) -> tera::Result<Value> {
        let kind = self.kind()?;
        let Some(items) = self.args.get("for") else {
            return Err(self.error("missing argument `for`: the list of objects (e.g. for=posts)"));
        };
        let Value::Array(items) = items else {
            return Err(self.error(format!("`for` must be a list of objects, not {items}")));
        };
        let objects = items
            .iter()
            .enumerate()
            .map(|(i, item)| object_of(item, kind).map_err(|e| self.error(format!("`for`[{i}]: {e}"))))
            .collect::<tera::Result<Vec<_>>>()?;
        let window = self.window()?;
        let wanted = objects.clone();
        // One query either way.
        let counts = blocking
            .run(move |counter| async move {
                match window {
                    Some(window) => counter.counts_and_hits_in_last_many(&wanted, window).await,
                    None => Ok(counter
                        .counts_many(&wanted)
                        .await?
                        .into_iter()
                        .map(|(object, counts)| (object, (counts, counts.hits)))
                        .collect()),
                }
            })
            .map_err(|e| self.error(e))?;
        Ok(Value::Array(
            items
                .iter()
                .zip(&objects)
                .map(|(item, object)| {
                    let (counts, hits) = counts.get(object).copied().unwrap_or_default();
                    json!({
                        "object": item,
                        "key": object.to_string(),
                        "pk": counts.pk,
                        "hits": hits,
                        "total_hits": counts.hits,
                    })
                })
                .collect(),
        ))
    }

    fn js_variables(&self, state: &HitCount, blocking: &BlockingCounter) -> tera::Result<JsContext> {
        let (pk, hits) = blocking.pk_and_hits(&self.object()?).map_err(|e| self.error(e))?;
        Ok(state.js_context(pk, hits))
    }

    fn most_viewed(&self, blocking: &BlockingCounter) -> tera::Result<Value> {
        let kind = self.kind()?.map(str::to_owned);
        let window = self.window()?;
        let limit = match self.args.get("limit") {
            None => 10,
            Some(value) => match value.as_u64() {
                Some(n @ 1..=MAX_MOST_VIEWED) => n as u32,
                _ => {
                    return Err(self.error(format!(
                        "`limit` must be a whole number from 1 to {MAX_MOST_VIEWED}, not {value}"
                    )))
                }
            },
        };
        let ranked = blocking
            .run(move |counter| async move { counter.most_viewed(kind.as_deref(), window, limit).await })
            .map_err(|e| self.error(e))?;
        Ok(Value::Array(
            ranked
                .into_iter()
                .map(|r| {
                    json!({
                        "kind": r.object.kind(),
                        "id": r.object.id(),
                        "key": r.object.to_string(),
                        "pk": r.pk,
                        "hits": r.hits,
                    })
                })
                .collect(),
        ))
    }
}

/// The object a template value names:
///
/// - a string `"kind:id"` (`"blog.post:1"`), or just the id when the call
///   gives `kind`;
/// - a number, the id, when the call gives `kind`;
/// - a map with a `hitcount` field holding either of the above or
///   `{kind, id}` (a serialized [`ObjectRef`]);
/// - a map with `kind` and `id` fields (a serialized [`ObjectRef`]);
/// - a map with an `id` field, when the call gives `kind`.
fn object_of(value: &Value, kind: Option<&str>) -> Result<ObjectRef, String> {
    let from_key = |key: &str| match kind {
        Some(kind) => ObjectRef::new(kind, key).map_err(|e| e.to_string()),
        None => key.parse::<ObjectRef>().map_err(|e| e.to_string()),
    };
    match value {
        Value::String(key) => from_key(key),
        Value::Number(id) => match kind {
            Some(kind) => ObjectRef::new(kind, id).map_err(|e| e.to_string()),
            None => Err(format!("the id {id} needs `kind` (e.g. kind=\"blog.post\")")),
        },
        Value::Object(fields) => {
            if let Some(key) = fields.get("hitcount") {
                return object_of(key, kind);
            }
            match (fields.get("kind"), fields.get("id"), kind) {
                (Some(Value::String(own_kind)), Some(id), None) => {
                    ObjectRef::new(own_kind.as_str(), id_of(id)?).map_err(|e| e.to_string())
                }
                (_, Some(id), Some(kind)) => ObjectRef::new(kind, id_of(id)?).map_err(|e| e.to_string()),
                _ => Err(
                    "the object has no hit-count key: give it a `hitcount` field (\"blog.post:1\"), \
                     or `kind` and `id` fields, or pass kind=\"...\" for an object with an `id`"
                        .into(),
                ),
            }
        }
        other => Err(format!(
            "expected an object, a \"kind:id\" string or an id, got {}",
            if other.is_null() {
                "null".to_owned()
            } else {
                other.to_string()
            }
        )),
    }
}

/// An id field: a string or a number.
fn id_of(value: &Value) -> Result<String, String> {
    match value {
        Value::String(id) => Ok(id.clone()),
        Value::Number(id) => Ok(id.to_string()),
        other => Err(format!("an id must be a string or a number, not {other}")),
    }
}

/// django-hitcount's `insert_hit_count_js_variables`, byte for byte, plus
/// the page token when the endpoint requires one.
fn script_variables(vars: &JsContext, with_token: bool) -> String {
    let token = if with_token {
        format!(",hitcountToken : '{}'", js_string(&vars.token))
    } else {
        String::new()
    };
    format!(
        "<script type=\"text/javascript\">\nvar hitcountJS = {{hitcountPK : '{}',hitcountURL : '{}'{token}}};\n</script>",
        vars.pk,
        js_string(&vars.ajax_url)
    )
}

/// django-hitcount's `insert_hit_count_js`: the variables, the bundled
/// script, and the call that counts; with `debug`, the answer is logged.
fn count_script(state: &HitCount, vars: &JsContext, debug: bool) -> String {
    let log = if debug {
        ".then(function (answer) { console.log('rocket-hitcount:', answer); }, \
         function (error) { console.error('rocket-hitcount:', error); })"
    } else {
        ".catch(function () {})"
    };
    format!(
        "{}\n<script src=\"{}\"></script>\n<script type=\"text/javascript\">\nHitCount.countHit(hitcountJS){log};\n</script>",
        script_variables(vars, state.config().require_token),
        js_string(&vars.script_url)
    )
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

    #[test]
    fn objects_are_named_every_documented_way() {
        let post = ObjectRef::new("blog.post", 1).unwrap();
        let cases = [
            (json!("blog.post:1"), None),
            (json!("1"), Some("blog.post")),
            (json!(1), Some("blog.post")),
            (json!({"hitcount": "blog.post:1", "title": "Hello"}), None),
            (json!({"hitcount": {"kind": "blog.post", "id": "1"}}), None),
            (json!({"kind": "blog.post", "id": 1}), None),
            (json!({"id": 1, "title": "Hello"}), Some("blog.post")),
        ];
        for (value, kind) in cases {
            assert_eq!(object_of(&value, kind), Ok(post.clone()), "{value} kind={kind:?}");
        }
    }

    #[test]
    fn objects_without_a_key_say_what_is_missing() {
        let cases = [
            (json!({"title": "Hello"}), None, "has no hit-count key"),
            (json!({"id": 1}), None, "has no hit-count key"),
            (json!(1), None, "needs `kind`"),
            (json!("blog.post"), None, "expected kind:id"),
            (json!(null), None, "got null"),
            (json!([1]), None, "expected an object"),
            (
                json!({"id": [1]}),
                Some("blog.post"),
                "an id must be a string or a number",
            ),
        ];
        for (value, kind, message) in cases {
            let err = object_of(&value, kind).unwrap_err();
            assert!(err.contains(message), "{value}: {err}");
        }
    }

    #[test]
    fn script_strings_cannot_break_out() {
        assert_eq!(js_string("/a'b\\c</script>"), "/a\\'b\\\\c\\x3c/script\\x3e");
        assert_eq!(js_string("a\nb"), "a\\u000ab");
    }
}
