/** Stylesheets imported for their side effect; Vite bundles them into a file the CSP allows. */
declare module '*.css';
