// A chart's README as Preact elements, never as an HTML string: markdown → mdast (with GFM) →
// hast → VNodes. Raw HTML in the README is dropped (mdast-util-to-hast keeps it only with
// allowDangerousHtml, which is never set), links work only when http(s) or an in-page #anchor,
// and images are never loaded (the page works offline and tells no one it was read): each is
// shown as its alt text.
import { fromMarkdown } from "mdast-util-from-markdown";
import { gfmFromMarkdown } from "mdast-util-gfm";
import { gfm } from "micromark-extension-gfm";
import { toHast } from "mdast-util-to-hast";
import { toJsxRuntime } from "hast-util-to-jsx-runtime";
import { Fragment, jsx, jsxs } from "preact/jsx-runtime";
import type { ComponentChildren } from "preact";
import { safeHref } from "./format.ts";

function Link({ href, children }: { href?: string; children?: ComponentChildren }) {
  const safe = href?.startsWith("#") ? href : href ? safeHref(href) : null;
  if (!safe) return <span class="link-dropped">{children}</span>;
  return safe.startsWith("#") ? (
    <a href={safe}>{children}</a>
  ) : (
    <a href={safe} rel="noopener noreferrer nofollow" target="_blank">
      {children}
    </a>
  );
}

function Image({ alt }: { alt?: string }) {
  return <span class="image-dropped">[image{alt ? `: ${alt}` : ""}]</span>;
}

export function Markdown({ text }: { text: string }) {
  const mdast = fromMarkdown(text, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
  const hast = toHast(mdast);
  const content = toJsxRuntime(hast, {
    Fragment,
    jsx: jsx as never,
    jsxs: jsxs as never,
    elementAttributeNameCase: "html",
    components: { a: Link as never, img: Image as never },
  });
  return <div class="markdown">{content as ComponentChildren}</div>;
}
