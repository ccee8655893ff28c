"""Speech corpora as one manifest schema: loaders for public corpora and the offline corpus builder."""
