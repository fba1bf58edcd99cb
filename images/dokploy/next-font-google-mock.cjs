// The NEXT_FONT_GOOGLE_MOCKED_RESPONSES module for an offline `next build` of Dokploy.
//
// Dokploy's pages/_app.tsx calls next/font/google's Inter(), which downloads the CSS from
// fonts.googleapis.com at build time. Next reads this module instead when the variable names it:
// `require(module)[url]` must be the CSS, and a `src` that is an absolute path is read from disk.
// The CSS is the npm package @fontsource-variable/inter's wght.css (the same variable font),
// rewritten into Google's shape: a `/* <subset> */` comment before each @font-face (Next preloads
// the subsets Dokploy asks for by that comment), family 'Inter', format 'woff2'.
// BIZOSAAS_FONTSOURCE_INTER is the extracted package's directory (images/dokploy/prepare.py sets it).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const dir = process.env.BIZOSAAS_FONTSOURCE_INTER;
if (!dir) {
	throw new Error("next-font-google-mock: BIZOSAAS_FONTSOURCE_INTER is not set");
}
const source = fs.readFileSync(path.join(dir, "wght.css"), "utf8");
const css = source
	.replace(/\/\* inter-(.+?)-wght-normal \*\//g, "/* $1 */")
	.replace(/font-family: 'Inter Variable'/g, "font-family: 'Inter'")
	.replace(
		/url\(\.\/(files\/[^)]+\.woff2)\) format\('woff2-variations'\)/g,
		(_, file) => `url(${path.join(dir, file)}) format('woff2')`,
	);
if (!css.includes("/* latin */") || css.includes("./files/")) {
	throw new Error(`next-font-google-mock: unexpected layout of ${path.join(dir, "wght.css")}`);
}

// Any stylesheet URL for the Inter family gets the CSS; another font is a miss, which Next
// reports as "Missing mocked response for URL: ...".
const INTER = /^https:\/\/fonts\.googleapis\.com\/css2\?family=Inter[:&]/;
module.exports = new Proxy(
	{},
	{
		get(_target, url) {
			return typeof url === "string" && INTER.test(url) ? css : undefined;
		},
	},
);
