"""Upload size enforced while the request streams in, not after it was spooled to disk.

``LimitedUploadHandler`` runs first in ``FILE_UPLOAD_HANDLERS``. A multipart body whose
``Content-Length`` is over the limit is refused before a byte is read; otherwise each chunk is
counted before the later handlers (memory, temporary file) see it, and the upload stops at the
limit -- nothing beyond it is spooled, whatever the body claimed. The refusal is a
``MultiPartParserError``: DRF answers it with a JSON 400, Django's UI views with a 400.

The file limit is the dataset import limit (``EVALSITE_DATASET_MAX_UPLOAD_MB``); the request
may carry ``MULTIPART_OVERHEAD`` more bytes for the other form fields and boundaries.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http.multipartparser import MultiPartParserError

MULTIPART_OVERHEAD = 1024 * 1024


class UploadTooLarge(MultiPartParserError):
    pass


def file_limit() -> int:
    from datasets.conf import max_upload_bytes

    return max_upload_bytes()


def request_limit() -> int:
    return file_limit() + MULTIPART_OVERHEAD


def too_large_message() -> str:
    return f"The upload is larger than the {file_limit() // (1024 * 1024)} MB limit."


class LimitedUploadHandler(FileUploadHandler):
    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0
        self.too_large = False
        if content_length and content_length > request_limit():
            raise UploadTooLarge(too_large_message())
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > file_limit():
            self.too_large = True
            # Stops reading; the parser closes the files the later handlers opened.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None

    def upload_complete(self):
        if getattr(self, "too_large", False):
            raise UploadTooLarge(too_large_message())
