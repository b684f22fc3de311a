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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use hitcount::{BlockingCounter, ObjectRef, Window};
use rocket::fairing::{AdHoc, Fairing};
use rocket_dyn_templates::tera::{self, Tera, Value};
use rocket_dyn_templates::{Engines, Template};
use serde_json::json;

use crate::ajax::JsContext;
use crate::state::HitCount;

mod markup;
mod scan;

use markup::{count_script, script_variables};
pub(crate) use scan::unregistered_calls;

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
            // While the database is away, no variables and no script: the
            // page renders, and its hit is not counted.
            Name::JsVariables => Ok(json!(call.js_variables(&bound.state, blocking)?)),
            Name::InsertJsVariables => {
                let nonce = call.nonce()?;
                let script = call
                    .js_variables(&bound.state, blocking)?
                    .map(|vars| script_variables(&bound.state, &vars, nonce));
                Ok(Value::String(script.unwrap_or_default()))
            }
            Name::InsertJs => {
                let debug = call.flag("debug")?;
                let script = call
                    .js_variables(&bound.state, blocking)?
                    .map(|vars| count_script(&bound.state, &vars, debug));
                Ok(Value::String(script.unwrap_or_default()))
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

    /// `nonce`, if given: the page's Content-Security-Policy nonce, which
    /// an inline script needs under a policy without `'unsafe-inline'`.
    fn nonce(&self) -> tera::Result<Option<&str>> {
        match self.args.get("nonce") {
            None => Ok(None),
            Some(Value::String(nonce))
                if !nonce.is_empty()
                    && nonce.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
                    }) =>
            {
                Ok(Some(nonce))
            }
            Some(other) => Err(self.error(format!(
                "`nonce` must be a CSP nonce (base64 characters), not {other}"
            ))),
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
        // While the database is away: no figure (Tera prints nothing).
        Ok(json!(self.unless_away(hits)?))
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
        let counts = blocking.run(move |counter| async move {
            match window {
                Some(window) => counter.counts_and_hits_in_last_many(&wanted, window).await,
                None => Ok(counter
                    .counts_many(&wanted)
                    .await?
                    .into_iter()
                    .map(|(object, counts)| (object, (counts, counts.hits)))
                    .collect()),
            }
        });
        // While the database is away: the list, with no figures.
        let counts = self.unless_away(counts)?.unwrap_or_default();
        Ok(Value::Array(
            items
                .iter()
                .zip(&objects)
                .map(|(item, object)| {
                    let figures = counts.get(object).copied();
                    json!({
                        "object": item,
                        "key": object.to_string(),
                        "pk": figures.and_then(|(counts, _)| counts.pk),
                        "hits": figures.map(|(_, hits)| hits),
                        "total_hits": figures.map(|(counts, _)| counts.hits),
                    })
                })
                .collect(),
        ))
    }

    /// The object's script variables, or `None` while the database is away.
    fn js_variables(&self, state: &HitCount, blocking: &BlockingCounter) -> tera::Result<Option<JsContext>> {
        let found = self.unless_away(blocking.pk_and_hits(&self.object()?))?;
        Ok(found.map(|(pk, hits)| state.js_context(pk, hits)))
    }

    /// A read's answer, `None` when the database is away (the counter
    /// logs the outage once), or the error as this function's.
    fn unless_away<T>(&self, read: hitcount::Result<T>) -> tera::Result<Option<T>> {
        match read {
            Ok(value) => Ok(Some(value)),
            Err(hitcount::Error::Unavailable { .. }) => Ok(None),
            Err(error) => Err(self.error(error)),
        }
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
            .run(move |counter| async move { counter.most_viewed(kind.as_deref(), window, limit).await });
        // While the database is away: an empty list.
        let ranked = self.unless_away(ranked)?.unwrap_or_default();
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
