// The permission model orygate gates: an app where people in (nested)
// groups share folders and documents. Subjects are Kratos identity ids.
//
// Keto v0.13 groups `||` and `&&` left to right with no precedence:
// write the parentheses whenever the two meet.
import { Namespace, SubjectSet, Context } from "@ory/keto-namespace-types"

class User implements Namespace {}

// A team. Its members are people or the members of other teams, so a
// department holds its teams and inherits their people.
class Group implements Namespace {
  related: {
    members: (User | SubjectSet<Group, "members">)[]
  }
}

// Folders nest; what a folder grants holds for everything below it.
class Folder implements Namespace {
  related: {
    parents: Folder[]
    owners: (User | SubjectSet<Group, "members">)[]
    editors: (User | SubjectSet<Group, "members">)[]
    viewers: (User | SubjectSet<Group, "members">)[]
  }

  permits = {
    own: (ctx: Context): boolean =>
      this.related.owners.includes(ctx.subject) ||
      this.related.parents.traverse((parent) => parent.permits.own(ctx)),

    edit: (ctx: Context): boolean =>
      this.related.editors.includes(ctx.subject) ||
      this.permits.own(ctx) ||
      this.related.parents.traverse((parent) => parent.permits.edit(ctx)),

    view: (ctx: Context): boolean =>
      this.related.viewers.includes(ctx.subject) ||
      this.permits.edit(ctx) ||
      this.related.parents.traverse((parent) => parent.permits.view(ctx)),
  }
}

class Document implements Namespace {
  related: {
    parents: Folder[]
    owners: User[]
    editors: (User | SubjectSet<Group, "members">)[]
    viewers: (User | SubjectSet<Group, "members">)[]
    // People who may read a document but not take part in its discussion.
    muted: User[]
  }

  permits = {
    view: (ctx: Context): boolean =>
      this.related.viewers.includes(ctx.subject) ||
      this.permits.edit(ctx) ||
      this.related.parents.traverse((parent) => parent.permits.view(ctx)),

    edit: (ctx: Context): boolean =>
      this.related.editors.includes(ctx.subject) ||
      this.related.owners.includes(ctx.subject) ||
      this.related.parents.traverse((parent) => parent.permits.edit(ctx)),

    // Owners, and the owners of a folder above.
    delete: (ctx: Context): boolean =>
      this.related.owners.includes(ctx.subject) ||
      this.related.parents.traverse((parent) => parent.permits.own(ctx)),

    // A permit that combines relations: readers who are not muted.
    comment: (ctx: Context): boolean =>
      this.permits.view(ctx) && !this.related.muted.includes(ctx.subject),
  }
}
