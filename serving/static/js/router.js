// Hash routes: "#/review?flight=3" -> page "review" with params {flight: "3"}.

/** The current route: ``{page, params}``. */
export function currentRoute() {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [page, search = ''] = hash.split('?');
  return { page, params: Object.fromEntries(new URLSearchParams(search)) };
}

/** The hash for a page and its parameters. */
export function href(page, params = {}) {
  const search = new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== ''),
  ).toString();
  return `#/${page}${search ? `?${search}` : ''}`;
}

/** Change the current page's parameters without a new history entry or a reload. */
export function replaceParams(params) {
  const { page } = currentRoute();
  window.history.replaceState(null, '', href(page, params));
}
