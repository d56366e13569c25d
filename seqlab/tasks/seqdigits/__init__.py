"""Sequential digits: classify images read row by row or pixel by pixel."""
