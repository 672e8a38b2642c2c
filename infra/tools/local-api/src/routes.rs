//! The route table of an HTTP API and how API Gateway picks a route: the method (or
//! `ANY`) and the path, where `{name}` matches one segment and `{name+}` the rest;
//! the most specific route wins. A request no route matches is API Gateway's 404.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html>

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

/// One route: method and path as the template's `HttpApi` event gives them, and the
/// function (its binary) that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `POST`, ... or `ANY`.
    pub method: String,
    /// The path with `{param}` (one segment) or `{param+}` (greedy) parameters.
    pub path: String,
    /// The function's binary, as `cargo lambda watch` knows it.
    pub function: String,
    /// Whether the JWT authorizer runs for this route (false only for `Authorizer: NONE`).
    pub authorized: bool,
}

impl Route {
    /// API Gateway's route key, e.g. `GET /api/provider-configs`.
    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path parameters when `path` (as received, percent-encoded) matches this
    /// route's path.
    fn matches(&self, path: &str) -> Option<BTreeMap<String, String>> {
        let mut wanted = self.path.trim_start_matches('/').split('/').peekable();
        let mut given = path.trim_start_matches('/').split('/');
        let mut params = BTreeMap::new();
        while let Some(pattern) = wanted.next() {
            if let Some(name) = pattern.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
                // Greedy: the rest of the path, at least one non-empty segment.
                let rest: Vec<&str> = given.by_ref().collect();
                if wanted.peek().is_some() || rest.iter().all(|s| s.is_empty()) {
                    return None;
                }
                params.insert(name.to_owned(), decode(&rest.join("/")));
                return Some(params);
            }
            let segment = given.next()?;
            match pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !segment.is_empty() => {
                    params.insert(name.to_owned(), decode(segment));
                }
                Some(_) => return None,
                None if pattern == segment => {}
                None => return None,
            }
        }
        given.next().is_none().then_some(params)
    }

    /// Orders routes from the most specific: more literal segments first, then a
    /// named method before `ANY`.
    fn specificity(&self) -> (usize, bool) {
        let literal = self.path.split('/').filter(|s| !s.starts_with('{')).count();
        (literal, self.method != "ANY")
    }
}

/// A route that matched, with its path parameters (decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    /// The route.
    pub route: &'a Route,
    /// Its path parameters by name.
    pub params: BTreeMap<String, String>,
}

/// All routes of the API.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// A table of these routes.
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
        Self { routes }
    }

    /// The routes, most specific first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route a request goes to, if any.
    pub fn find(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        self.routes
            .iter()
            .filter(|r| r.method == "ANY" || r.method.eq_ignore_ascii_case(method))
            .find_map(|route| route.matches(path).map(|params| Matched { route, params }))
    }
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, function: &str) -> Route {
        Route {
            method: method.into(),
            path: path.into(),
            function: function.into(),
            authorized: true,
        }
    }

    fn table() -> RouteTable {
        RouteTable::new(vec![
            route(
                "DELETE",
                "/api/provider-configs/{provider}",
                "delete-config",
            ),
            route("GET", "/api/provider-configs", "get-configs"),
            route("POST", "/api/provider-configs", "store"),
            route("ANY", "/files/{path+}", "files"),
            route("GET", "/files/readme", "readme"),
        ])
    }

    #[test]
    fn method_and_path_pick_the_function() {
        let table = table();
        assert_eq!(
            table
                .find("GET", "/api/provider-configs")
                .unwrap()
                .route
                .function,
            "get-configs"
        );
        assert_eq!(
            table
                .find("POST", "/api/provider-configs")
                .unwrap()
                .route
                .function,
            "store"
        );
        assert!(table.find("PATCH", "/api/provider-configs").is_none());
    }

    #[test]
    fn a_path_parameter_is_one_decoded_segment() {
        let table = table();
        let matched = table
            .find("DELETE", "/api/provider-configs/open%20ai")
            .unwrap();
        assert_eq!(
            matched.route.route_key(),
            "DELETE /api/provider-configs/{provider}"
        );
        assert_eq!(matched.params["provider"], "open ai");
        assert!(table.find("DELETE", "/api/provider-configs/").is_none());
        assert!(table.find("DELETE", "/api/provider-configs/a/b").is_none());
        assert!(table.find("GET", "/api/provider-configs/").is_none());
    }

    #[test]
    fn a_greedy_parameter_takes_the_rest_and_literals_win() {
        let table = table();
        let matched = table.find("PUT", "/files/a/b/c").unwrap();
        assert_eq!(matched.params["path"], "a/b/c");
        assert_eq!(
            table.find("GET", "/files/readme").unwrap().route.function,
            "readme"
        );
        assert_eq!(
            table.find("POST", "/files/readme").unwrap().route.function,
            "files"
        );
        assert!(table.find("GET", "/files").is_none());
    }
}
