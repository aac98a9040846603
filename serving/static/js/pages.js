// The pages of the UI and who may open them: the same roles as the API's checks.

export const PAGES = [
  { id: 'review', title: 'Review', roles: ['admin', 'analyst'], module: './review.js' },
  { id: 'dispatch', title: 'Dispatch', roles: ['admin', 'analyst'], module: './dispatch.js' },
  { id: 'map', title: 'Map', roles: ['admin', 'analyst', 'researcher', 'pilot'], module: './mappage.js' },
  { id: 'patrol', title: 'My patrol', roles: ['patrol', 'admin'], module: './patrol.js' },
  { id: 'upload', title: 'Upload', roles: ['admin', 'pilot'], module: './upload.js' },
  { id: 'dashboard', title: 'Dashboard', roles: ['admin', 'analyst', 'researcher'], module: './dashboard.js' },
  { id: 'users', title: 'Users & setup', roles: ['admin'], module: './users.js' },
];

// Where each role lands after logging in.
const HOME = {
  admin: 'dashboard',
  analyst: 'review',
  pilot: 'upload',
  patrol: 'patrol',
  researcher: 'dashboard',
};

/** The pages ``role`` may open, in menu order. */
export function pagesFor(role) {
  return PAGES.filter((page) => page.roles.includes(role));
}

/** The page ``role`` starts on. */
export function homeFor(role) {
  return HOME[role] || pagesFor(role)[0]?.id || 'map';
}
