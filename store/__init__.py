"""The versioned store: a bare git repository holding one commit per release.

`repo` is the only module that imports GitPython. Everything here returns values and raises
`CfgrollError`s; nothing prints.
"""
