//! Spin's HTTP route syntax and matching.
//!
//! A route is an exact path (`/v2/ops`), may have named segments (`/users/:id`, any one segment), and may end in
//! the wildcard `/...` (`/v2/...` matches `/v2` and everything below it; `/...` matches every path). The route
//! of a request is the most specific one that matches, as in Spin: routes are compared segment by segment from
//! the left, a literal segment beating a named one and a named one beating the wildcard, so an exact route beats
//! a wildcard and a longer wildcard prefix beats a shorter one. Two routes of equal rank (say `/a/...` twice) are
//! refused when the application loads. A trailing `/` in a request path is not significant.

use anyhow::{Result, bail};

/// One segment of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// A literal path segment.
    Literal(String),
    /// `:name`: any one segment, given to the component as the header `spin-path-match-<name>`.
    Named(String),
}

/// A parsed route.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    segments: Vec<Segment>,
    wildcard: bool,
}

impl Pattern {
    fn parse(route: &str) -> Result<Pattern> {
        let Some(rest) = route.strip_prefix('/') else {
            bail!("the route {route:?} does not start with `/`");
        };
        let mut parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        if parts.last() == Some(&"") {
            parts.pop();
        }
        let wildcard = parts.last() == Some(&"...");
        if wildcard {
            parts.pop();
        }
        let segments = parts
            .into_iter()
            .map(|part| match part {
                "..." => bail!(
                    "the route {route:?} has `...` before its end; the wildcard may only end a route (\"/a/...\")"
                ),
                "" => bail!("the route {route:?} has an empty segment (`//`)"),
                named if named.starts_with(':') && named.len() > 1 => {
                    Ok(Segment::Named(named[1..].to_owned()))
                }
                literal => Ok(Segment::Literal(literal.to_owned())),
            })
            .collect::<Result<_>>()?;
        Ok(Pattern { segments, wildcard })
    }

    /// The rank of each position: 2 literal, 1 named, 0 the wildcard; a longer list of equal prefix ranks higher.
    fn rank(&self) -> Vec<u8> {
        let mut rank: Vec<u8> = self
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(_) => 2,
                Segment::Named(_) => 1,
            })
            .collect();
        if self.wildcard {
            rank.push(0);
        } else {
            // The end of an exact route ranks above a wildcard at the same position.
            rank.push(3);
        }
        rank
    }

    /// The named segments' values and the path below the route's prefix, when `path` matches.
    fn matches<'p>(&self, path: &[&'p str]) -> Option<(Vec<(String, &'p str)>, usize)> {
        if path.len() < self.segments.len() || (!self.wildcard && path.len() != self.segments.len())
        {
            return None;
        }
        let mut named = Vec::new();
        for (segment, part) in self.segments.iter().zip(path) {
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Literal(_) => return None,
                Segment::Named(name) => named.push((name.clone(), *part)),
            }
        }
        Some((named, self.segments.len()))
    }
}

/// A route of the application, with the component serving it.
#[derive(Debug, Clone)]
struct Route {
    /// The route with the base, as matched (`/v2/...`).
    full: String,
    /// The route as written in the trigger.
    raw: String,
    pattern: Pattern,
    component: String,
}

/// The routes of an application.
#[derive(Debug, Clone)]
pub struct Router {
    base: String,
    routes: Vec<Route>,
}

/// The route a request matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The component serving it.
    pub component: String,
    /// The route with the base, as matched (Spin's `spin-matched-route`).
    pub matched_route: String,
    /// The route as written in the trigger (Spin's `spin-raw-component-route`).
    pub raw_route: String,
    /// The route without its wildcard (Spin's `spin-component-route`).
    pub component_route: String,
    /// The part of the path below the route (Spin's `spin-path-info`): empty for an exact route.
    pub path_info: String,
    /// The values of the named segments.
    pub named: Vec<(String, String)>,
}

impl Router {
    /// Routes `routes` (route as written, component id) under `base`.
    ///
    /// # Errors
    ///
    /// When a route is malformed, or two routes have the same rank (they would match the same paths).
    pub fn new<'a>(
        base: &str,
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Router> {
        let mut parsed: Vec<Route> = Vec::new();
        for (raw, component) in routes {
            let full = join(base, raw);
            let pattern = Pattern::parse(&full)?;
            if let Some(other) = parsed.iter().find(|other| {
                other.pattern.rank() == pattern.rank() && same_literals(&other.pattern, &pattern)
            }) {
                bail!(
                    "the routes {:?} (component {:?}) and {full:?} (component {component:?}) match the same \
                     paths; give one of them another route",
                    other.full,
                    other.component
                );
            }
            parsed.push(Route {
                full,
                raw: raw.to_owned(),
                pattern,
                component: component.to_owned(),
            });
        }
        Ok(Router {
            base: base.to_owned(),
            routes: parsed,
        })
    }

    /// The base every route is under.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Each route (with the base) and the component serving it, in manifest order.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes
            .iter()
            .map(|route| (route.full.as_str(), route.component.as_str()))
    }

    /// The most specific route matching `path` (the request's path, without its query), or `None`.
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        let (route, (named, consumed)) = self
            .routes
            .iter()
            .filter_map(|route| route.pattern.matches(&parts).map(|m| (route, m)))
            .max_by(|(a, _), (b, _)| a.pattern.rank().cmp(&b.pattern.rank()))?;
        let path_info = if route.pattern.wildcard {
            parts[consumed..]
                .iter()
                .map(|part| format!("/{part}"))
                .collect::<String>()
        } else {
            String::new()
        };
        let component_route = route
            .full
            .strip_suffix("/...")
            .map_or_else(|| route.full.clone(), |prefix| prefix.to_owned());
        Some(RouteMatch {
            component: route.component.clone(),
            matched_route: route.full.clone(),
            raw_route: route.raw.clone(),
            component_route,
            path_info,
            named: named
                .into_iter()
                .map(|(name, value)| (name, value.to_owned()))
                .collect(),
        })
    }
}

/// Whether two patterns of equal rank have the same literal segments (so they match exactly the same paths).
fn same_literals(a: &Pattern, b: &Pattern) -> bool {
    a.segments.iter().zip(&b.segments).all(|pair| match pair {
        (Segment::Literal(x), Segment::Literal(y)) => x == y,
        _ => true,
    })
}

/// `base` and `route` joined with exactly one `/` between them.
fn join(base: &str, route: &str) -> String {
    let base = base.trim_end_matches('/');
    if route.starts_with('/') {
        format!("{base}{route}")
    } else {
        format!("{base}/{route}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::new("/", routes.iter().copied()).unwrap()
    }

    fn component(router: &Router, path: &str) -> Option<String> {
        router.route(path).map(|m| m.component)
    }

    #[test]
    fn an_exact_route_matches_only_its_path() {
        let router = router(&[("/ops", "a")]);
        assert_eq!(component(&router, "/ops").as_deref(), Some("a"));
        assert_eq!(component(&router, "/ops/").as_deref(), Some("a"));
        assert_eq!(component(&router, "/ops/x"), None);
        assert_eq!(component(&router, "/op"), None);
        assert_eq!(component(&router, "/"), None);
    }

    #[test]
    fn a_wildcard_matches_its_prefix_and_below_with_the_rest_as_path_info() {
        let router = router(&[("/v2/...", "a")]);
        let m = router.route("/v2/x/y").unwrap();
        assert_eq!(m.component, "a");
        assert_eq!(m.path_info, "/x/y");
        assert_eq!(m.component_route, "/v2");
        assert_eq!(m.matched_route, "/v2/...");
        assert_eq!(router.route("/v2").unwrap().path_info, "");
        assert_eq!(component(&router, "/v20"), None);
        assert_eq!(component(&router, "/"), None);
    }

    #[test]
    fn the_most_specific_route_wins_whatever_the_manifest_order() {
        let router = router(&[
            ("/...", "root"),
            ("/v2/...", "v2"),
            ("/v2/ops", "ops"),
            ("/v2/:id", "named"),
            ("/v2/a/...", "deeper"),
        ]);
        assert_eq!(component(&router, "/").as_deref(), Some("root"));
        assert_eq!(component(&router, "/other/x").as_deref(), Some("root"));
        assert_eq!(component(&router, "/v2").as_deref(), Some("v2"));
        assert_eq!(component(&router, "/v2/ops").as_deref(), Some("ops"));
        assert_eq!(component(&router, "/v2/x").as_deref(), Some("named"));
        assert_eq!(component(&router, "/v2/x/y").as_deref(), Some("v2"));
        // A literal segment outranks a named one, even when the wildcard follows it.
        assert_eq!(component(&router, "/v2/a").as_deref(), Some("deeper"));
        assert_eq!(component(&router, "/v2/a/b").as_deref(), Some("deeper"));
        assert_eq!(
            router.route("/v2/x").unwrap().named,
            vec![("id".to_owned(), "x".to_owned())]
        );
    }

    #[test]
    fn the_base_prefixes_every_route() {
        let router = Router::new("/app/", [("/...", "a")]).unwrap();
        assert_eq!(component(&router, "/app/x").as_deref(), Some("a"));
        assert_eq!(component(&router, "/x"), None);
    }

    #[test]
    fn routes_that_match_the_same_paths_and_malformed_routes_are_refused() {
        assert!(Router::new("/", [("/a/...", "x"), ("/a/...", "y")]).is_err());
        assert!(Router::new("/", [("/a/:x", "x"), ("/a/:y", "y")]).is_err());
        assert!(Router::new("/", [("/a/.../b", "x")]).is_err());
        assert!(Router::new("/", [("/a", "x"), ("/b", "y")]).is_ok());
    }
}
