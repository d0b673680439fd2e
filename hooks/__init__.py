"""The sample hooks cfgroll ships (`*.sample`): `cfgroll init` and the first deploy copy them
into the project's `.cfgroll/hooks/`, where they run only once renamed and made executable."""
