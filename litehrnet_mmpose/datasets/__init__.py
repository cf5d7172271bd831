"""Datasets and transforms that name the bad file, annotation or setting."""
from .datasets import CocoDataset, MpiiDataset
from .transforms import BadImageError, LoadImage, decode_image, read_image

__all__ = ['BadImageError', 'CocoDataset', 'LoadImage', 'MpiiDataset', 'decode_image',
           'read_image']
