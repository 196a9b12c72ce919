// Package depcheck holds only tests: they enforce the dependency direction of
// DESIGN.md and STYLE.md (who may import whom) and that every package says
// what it does in a doc comment. Nothing imports it.
package depcheck
