// A chart's README as Preact elements, never as an HTML string: markdown → mdast (with GFM) →
// hast → VNodes. Raw HTML in the README is shown as the text it is (each mdast `html` node
// becomes a text node before hast; allowDangerousHtml is never set), links work only when http(s) or an in-page #anchor,
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

interface MdNode {
  type: string;
  value?: string;
  children?: MdNode[];
}

/** Raw HTML as visible text: `<script>` in a README reads as `<script>`, and never runs. */
function htmlAsText(node: MdNode): void {
  if (node.type === "html") node.type = "text";
  for (const child of node.children ?? []) htmlAsText(child);
}

export function Markdown({ text }: { text: string }) {
  const mdast = fromMarkdown(text, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
  htmlAsText(mdast as MdNode);
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
