"""The only translator between the API and the domain: types, inputs, loaders, schema."""
