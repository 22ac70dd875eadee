"""Pure numpy pre/post-processing (image, audio, text), shared by the runtime and the converters."""
