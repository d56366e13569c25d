"""Task ``caption`` (image captioning): generated scenes or real captioned images, an image encoder, a decoder."""
