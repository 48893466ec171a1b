//! The officials' page: its three files (`web/index.html`, `app.js`, `style.css`), built into the
//! binary and served at `/`, `/app.js` and `/style.css` (from `server.web_dir` instead when it is
//! set).

/// The page's own files, and nothing else from the web folder (its tests and their tools
/// stay unserved): route, file name, content type, and the copy built into the binary (so an
/// installed service finds its page wherever it runs).
pub const PAGE_FILES: [(&str, &str, &str, &str); 3] = [
    ("/", "index.html", "text/html; charset=utf-8", include_str!("../../web/index.html")),
    ("/app.js", "app.js", "text/javascript; charset=utf-8", include_str!("../../web/app.js")),
    ("/style.css", "style.css", "text/css; charset=utf-8", include_str!("../../web/style.css")),
];
