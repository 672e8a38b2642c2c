// The page's one setting: the base URL of the apikeys HTTP API. Empty means the
// page's own origin, as when the local API serves it (make run). When the page is
// deployed to another static host, set the API's URL here (the stack's ApiUrl) and
// add the page's origin to the stack's CorsAllowedOrigins.
window.APIKEYS_CONFIG = {
  apiBaseUrl: "",
};
