"""One module per command that changes members: each reads through, decides in
and commits with `member_changes.MemberChanges`."""
